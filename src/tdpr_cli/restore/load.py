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

if TYPE_CHECKING:
    from tdpr_cli.config import RestoreConfig, Subtype
    from tdpr_cli.device import Precision
    from tdpr_cli.models.base import ModelBase
    from tdpr_cli.restore.pipeline import Restorer


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
class LoadedModels:
    """The TD-CNN, the vocoder (None for ``--phase none``) and ``{'tdcnn': 'name@sha256:..', ...}``."""

    tdcnn: ModelBase
    vocoder: ModelBase | None
    info: dict[str, str]


def load_models(choice: ModelChoice, phase: PhaseMode) -> LoadedModels:
    """Resolve, verify and load the models ``phase`` needs (the vocoder only for band/paper)."""
    from tdpr_cli.models.load import load_model
    from tdpr_cli.weights import hub
    from tdpr_cli.weights import resolve as W

    offline = hub.is_offline(choice.offline)
    lock = W.load_lock()
    if choice.weights is not None:
        t = W.resolve_local(choice.weights, None, choice.sha256, choice.trust_local)
    else:
        t = W.resolve(lock, choice.model, "tdcnn", offline=offline)
    info = {"tdcnn": f"{t.name}@sha256:{t.sha256}"}
    tdcnn = load_model(t.weights_path, t.config_path, "tdcnn")
    voc = None
    if phase is not PhaseMode.NONE:
        v = W.resolve(lock, choice.vocoder, "vocoder", offline=offline)
        voc = load_model(v.weights_path, v.config_path, "vocoder")
        info["vocoder"] = f"{v.name}@sha256:{v.sha256}"
    return LoadedModels(tdcnn, voc, info)


def load_vocoders(names: list[str], local: list[Path]) -> dict[str, ModelBase]:
    """Vocoders to compare (benchmarks, scripts): lock models by name (verified, offline) and local
    exports (config beside the weights, trusted), keyed by name or path; no TD-CNN is loaded."""
    from tdpr_cli.models.load import load_model
    from tdpr_cli.weights import resolve as W

    lock = W.load_lock()
    found = [W.resolve(lock, name, "vocoder", offline=True) for name in names]
    found += [W.resolve_local(path, trust_local=True) for path in local]
    keys = [*names, *map(str, local)]
    return {key: load_model(f.weights_path, f.config_path, "vocoder") for key, f in zip(keys, found)}


def build_restorer(choice: ModelChoice, cfg: RestoreConfig, device: str, precision: Precision,
                   threads: int | None, chunk_seconds: float) -> tuple[Restorer, dict[str, str]]:
    """A ``Restorer`` on verified models in this process (a local run or a Ray worker), and the
    models' names for the records; ``threads`` None: the idle cores."""
    import dataclasses

    import torch

    from tdpr_cli.config import ChunkConfig
    from tdpr_cli.device import auto_threads, pick_device, quiet_openmp
    from tdpr_cli.restore.pipeline import Restorer, chunk_grid

    quiet_openmp()
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads or auto_threads())
    dev, amp = pick_device(device, precision)
    loaded = load_models(choice, cfg.phase)
    # Chunk lengths are whole multiples of this model's grid, not of a fixed 512.
    chunk = ChunkConfig.from_seconds(chunk_seconds, align=chunk_grid(loaded.tdcnn, cfg.stft))
    return Restorer(loaded.tdcnn, loaded.vocoder, dataclasses.replace(cfg, chunk=chunk), dev, amp), loaded.info


class RestoreWorker:
    """A pool worker's body (Ray actor or local process): models loaded and verified once, then
    one file per ``restore`` call, which returns the file's record as a dict (errors included)."""

    def __init__(self, choice: ModelChoice, cfg: RestoreConfig, device: str, precision: Precision,
                 threads: int, chunk_seconds: float) -> None:
        self.restorer, self.info = build_restorer(choice, cfg, device, precision, threads, chunk_seconds)

    def models(self) -> dict[str, str]:
        return self.info

    def restore(self, inp: str, out: str, subtype: Subtype, overwrite: bool) -> dict[str, Any]:
        from tdpr_cli.restore.file import restore_recorded

        return restore_recorded(inp, out, self.restorer, subtype, overwrite).as_dict()
