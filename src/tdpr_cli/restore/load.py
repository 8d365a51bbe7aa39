"""Load the verified models a restore needs: the TD-CNN, and the vocoder unless ``--phase none``.

Every command that restores (``restore``, ``report``'s phase view, ``eval
table``, the benchmarks) loads its models here, so they all take the same
lock, the same sha256 checks and the same rules for local weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tdpr_cli.config import PhaseMode
from tdpr_cli.errors import ModelsUnavailable, TdprError, UsageError, WeightsError

if TYPE_CHECKING:
    from tdpr_cli.config import RestoreConfig, Runtime, Subtype
    from tdpr_cli.device import Precision
    from tdpr_cli.models.base import ModelBase
    from tdpr_cli.restore.pipeline import Restorer
    from tdpr_cli.restore.stream import ChunkRestorer
    from tdpr_cli.weights.resolve import ResolvedModel


@dataclass(frozen=True)
class ModelChoice:
    """Which models to load: lock names (None: the lock's defaults) or a local TD-CNN file.

    ``weights`` replaces the TD-CNN of the lock; it needs ``sha256`` or
    ``trust_local``. ``offline`` never touches the network (also HF_HUB_OFFLINE=1).
    """

    model: str | None = None
    vocoder: str | None = None
    weights: Path | None = None
    sha256: str | None = None
    trust_local: bool = False
    offline: bool = False


@dataclass(frozen=True)
class ResolvedModels:
    """Verified weight and config files of the models a mode needs (no vocoder for ``--phase
    none``), and ``{'tdcnn': 'name@sha256:..', ...}`` for the records. Nothing is loaded yet."""

    tdcnn: ResolvedModel
    vocoder: ResolvedModel | None
    info: dict[str, str]


@dataclass(frozen=True)
class LoadedModels:
    """The TD-CNN, the vocoder (None for ``--phase none``) and ``{'tdcnn': 'name@sha256:..', ...}``."""

    tdcnn: ModelBase
    vocoder: ModelBase | None
    info: dict[str, str]


def resolve_models(choice: ModelChoice, phase: PhaseMode) -> ResolvedModels:
    """Resolve and verify (sha256) the files of the models ``phase`` needs; no torch is imported."""
    from tdpr_cli.weights import hub
    from tdpr_cli.weights import resolve as W

    offline = hub.is_offline(choice.offline)
    lock = W.load_lock()
    if choice.weights is not None:
        t = W.resolve_local(choice.weights, None, choice.sha256, choice.trust_local)
    else:
        t = W.resolve(lock, choice.model, "tdcnn", offline=offline)
    info = {"tdcnn": f"{t.name}@sha256:{t.sha256}"}
    v = None
    if phase is not PhaseMode.NONE:
        v = W.resolve(lock, choice.vocoder, "vocoder", offline=offline)
        info["vocoder"] = f"{v.name}@sha256:{v.sha256}"
    return ResolvedModels(t, v, info)


def load_models(choice: ModelChoice, phase: PhaseMode) -> LoadedModels:
    """Resolve, verify and load the models ``phase`` needs (the vocoder only for band/paper)."""
    return _load(resolve_models(choice, phase))


def _load(found: ResolvedModels) -> LoadedModels:
    """Load resolved models, after checking that their files are still the verified ones."""
    from tdpr_cli.models.load import load_model

    for model in (found.tdcnn, found.vocoder):
        if model is not None:
            still_verified(model)
    t, v = found.tdcnn, found.vocoder
    tdcnn = load_model(t.weights_path, t.config_path, "tdcnn", t.sha256, t.config_sha256)
    voc = None if v is None else load_model(v.weights_path, v.config_path, "vocoder", v.sha256, v.config_sha256)
    return LoadedModels(tdcnn, voc, found.info)


def still_verified(model: ResolvedModel) -> None:
    """Raise ``WeightsError`` unless ``model``'s files are still the ones verified when it was
    resolved: a deferred load (``LazyRestorer``) can come long after. Through the one
    verification (``weights.verify.verify_file``): an unchanged file costs a stat against its
    cache, a touched one is hashed again (and remembered when it still matches)."""
    import os

    from tdpr_cli.weights import verify as hashing

    w = model.weights_path
    try:
        # The sha256 decides; the size passed is the file's own (ResolvedModel keeps no size).
        hashing.verify_file(w, model.sha256, os.stat(w).st_size)
        config = hashing.canonical_config_sha256(hashing.read_model_config(model.config_path))
    except OSError as exc:
        raise WeightsError(f"{w}: cannot read weight file: {exc}") from None
    except WeightsError as exc:
        raise WeightsError(f"{exc}; changed since it was verified at the start of this run; not loaded") from None
    if config != model.config_sha256:
        raise WeightsError(f"{model.config_path}: changed since it was verified at the start of this run; not loaded")


def load_vocoders(names: list[str], local: list[Path]) -> dict[str, ModelBase]:
    """Vocoders to compare (benchmarks, scripts): lock models by name (verified, offline) and local
    exports (config beside the weights, trusted), keyed by name or path; no TD-CNN is loaded."""
    from tdpr_cli.models.load import load_model
    from tdpr_cli.weights import resolve as W

    lock = W.load_lock()
    found = [W.resolve(lock, name, "vocoder", offline=True) for name in names]
    found += [W.resolve_local(path, trust_local=True) for path in local]
    keys = [*names, *map(str, local)]
    return {key: load_model(f.weights_path, f.config_path, "vocoder", f.sha256, f.config_sha256)
            for key, f in zip(keys, found)}


def build_restorer(found: ResolvedModels, cfg: RestoreConfig, device: str, precision: Precision,
                   threads: int | None) -> ChunkRestorer:
    """A restorer on the verified models ``found``, in this process (a local run or a pool
    worker): on ONNX Runtime where ``use_graphs`` says so, else on torch; ``threads`` None:
    ``OMP_NUM_THREADS`` when set, else the idle cores. ``cfg.chunk`` is moved onto the model's
    chunk grid."""
    import dataclasses

    from tdpr_cli.device import auto_threads, reuse_freed_memory, user_threads
    from tdpr_cli.restore.stream import chunk_grid

    reuse_freed_memory()
    n = threads or user_threads() or auto_threads()
    for model in (found.tdcnn, found.vocoder):
        if model is not None:
            still_verified(model)  # before anything reads them, even a header
    if use_graphs(found, cfg.runtime, device, precision):
        from tdpr_cli.models.graph import GraphTdcnn, GraphVocoder, load_graph
        from tdpr_cli.restore.graph_pipeline import GraphRestorer

        t, voc = found.tdcnn, found.vocoder
        tdcnn = GraphTdcnn(load_graph(t.config_sha256, "tdcnn"), t.weights_path, n, t.sha256)
        vocoder = None if voc is None else GraphVocoder(load_graph(voc.config_sha256, "vocoder"), voc.weights_path, n, voc.sha256)
        chunk = cfg.chunk.aligned(chunk_grid(tdcnn, cfg.stft))
        return GraphRestorer(tdcnn, vocoder, dataclasses.replace(cfg, chunk=chunk), n)
    return _torch_restorer(found, cfg, device, precision, n)


def _torch_restorer(found: ResolvedModels, cfg: RestoreConfig, device: str, precision: Precision,
                    threads: int) -> Restorer:
    import dataclasses

    import torch

    from tdpr_cli.device import pick_device, quiet_openmp
    from tdpr_cli.restore.pipeline import Restorer
    from tdpr_cli.restore.stream import chunk_grid

    quiet_openmp()
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
    dev, amp = pick_device(device, precision)
    loaded = _load(found)
    # Chunk lengths are whole multiples of this model's grid, not of a fixed 512.
    chunk = cfg.chunk.aligned(chunk_grid(loaded.tdcnn, cfg.stft))
    return Restorer(loaded.tdcnn, loaded.vocoder, dataclasses.replace(cfg, chunk=chunk), dev, amp)


def use_graphs(found: ResolvedModels, runtime: Runtime, device: str, precision: Precision) -> bool:
    """Whether ONNX Runtime runs the networks: ``--runtime onnxruntime``, or ``auto`` where it can
    (the CPU, fp32, the package installed, a shipped graph for each model's architecture and
    weights numpy reads); ``--runtime onnxruntime`` where it cannot is a ``UsageError`` that says
    why. Reads the models' safetensors headers (verified files)."""
    from tdpr_cli.config import Runtime
    from tdpr_cli.models.graph import NUMPY_DTYPES, has_graph, weight_dtypes

    if runtime is Runtime.TORCH:
        return False
    why = runtime_blockers(device, precision)
    models = [m for m in (found.tdcnn, found.vocoder) if m is not None]
    no_graph = [m.name for m in models if not has_graph(m.config_sha256)]
    if no_graph:
        why.append(f"has no graph for the architecture of {', '.join(no_graph)}")
    odd = {m.name: sorted(weight_dtypes(m.weights_path) - NUMPY_DTYPES) for m in models}
    why += [f"cannot read the {'/'.join(types)} weights of {name}" for name, types in odd.items() if types]
    if why and runtime is Runtime.ONNX:
        refuse_onnx(why)
    return not why


def runtime_blockers(device: str, precision: Precision) -> list[str]:
    """Why ONNX Runtime cannot run this process's models whatever they are (no file is read):
    a GPU device, a precision other than fp32, no onnxruntime package."""
    from tdpr_cli.device import Precision, runs_on_cpu

    why = []
    if precision is not Precision.FP32:
        why.append(f"runs in fp32 only, not {precision.value}")
    if not runs_on_cpu(device):
        why.append("runs on the CPU only (--device cpu)")
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        why.append("needs the onnxruntime package")
    return why


def refuse_onnx(why: list[str]) -> None:
    raise UsageError("--runtime onnxruntime " + "; ".join(why) + " (--runtime torch runs these)")


class LazyRestorer:
    """A run's models, resolved and verified up front, built into a restorer (torch's
    ``Restorer`` or ONNX Runtime's ``GraphRestorer``, as ``use_graphs`` decides) on first use.

    A file that passes through (already wideband, or silent) needs no model, so a run in one
    process whose files all pass through never imports torch or loads weights: on the 2-core
    box that is about 2 s of the 2.4 s a 1 s pass-through took. A bad model name or hash still
    fails before any file. Where building can fail for a reason no file changes (``--device
    cuda``, ``--precision fp16``), or with ``eager`` (pool workers), the models are built at
    once, the device checked first. A build that fails later raises ``ModelsUnavailable``,
    which ends the run, every time it is asked for.
    """

    def __init__(self, choice: ModelChoice, cfg: RestoreConfig, device: str, precision: Precision,
                 threads: int | None, eager: bool = False) -> None:
        from tdpr_cli.config import Runtime
        from tdpr_cli.device import Precision, names_cuda, pick_device, quiet_openmp

        eager = eager or names_cuda(device) or precision is Precision.FP16  # names_cuda checks the name
        if eager:
            quiet_openmp()  # before pick_device imports torch: OpenMP reads it once, at load
            pick_device(device, precision)  # before resolving: no weights fetched for a missing GPU
        if cfg.runtime is Runtime.ONNX and (why := runtime_blockers(device, precision)):
            refuse_onnx(why)  # before resolving: no weights fetched for a run refused anyway
        self.cfg = cfg
        self.found = resolve_models(choice, cfg.phase)
        self.info = self.found.info
        if cfg.runtime is Runtime.ONNX:
            use_graphs(self.found, cfg.runtime, device, precision)  # the models' own reasons, before any file
        self._build = (device, precision, threads)
        self._restorer: ChunkRestorer | None = None
        self._failure: ModelsUnavailable | None = None
        if eager:
            self._restorer = build_restorer(self.found, self.cfg, *self._build)

    def get(self) -> ChunkRestorer:
        """The restorer, built on the first call; ``ModelsUnavailable`` if that failed."""
        if self._restorer is None and self._failure is None:
            try:
                self._restorer = build_restorer(self.found, self.cfg, *self._build)
            except TdprError as exc:
                self._failure = ModelsUnavailable(f"cannot build the models: {exc}", exc.exit_code)
        if self._failure is not None:
            raise self._failure
        assert self._restorer is not None
        return self._restorer


class RestoreWorker:
    """A pool worker's body (Ray actor or local process): models verified and loaded once, at
    start (so a pool that cannot load them fails before any file), then one file per
    ``restore`` call, which returns the file's record as a dict (errors included)."""

    def __init__(self, choice: ModelChoice, cfg: RestoreConfig, device: str, precision: Precision,
                 threads: int) -> None:
        self.restorer = LazyRestorer(choice, cfg, device, precision, threads, eager=True)
        self.info = self.restorer.info

    def models(self) -> dict[str, str]:
        return self.info

    def restore(self, inp: str, out: str, subtype: Subtype, overwrite: bool) -> dict[str, Any]:
        from tdpr_cli.restore.file import restore_recorded

        return restore_recorded(inp, out, self.restorer, subtype, overwrite).as_dict()
