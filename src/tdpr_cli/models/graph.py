"""The torch-free CPU runtime of tdpr's networks: ONNX Runtime on weightless graphs.

Why: ``import torch`` alone takes 1.0-1.5 s on the 2-core CPU this project targets, most of a
short file's wall time (issue 14), while ``onnxruntime`` imports in about 0.1 s and runs the
same convolutions as fast or faster. Each model architecture (the ``config_sha256`` of the
lock, which covers ``arch`` and ``params``) has a graph in ``models/graphs/`` (architectures
that export alike share one file), exported from the torch module by ``graph_export.py``;
``graphs/index.json`` pins each graph's sha256 and names the model's kind, the graph's
external initializers and every state-dict key a weights file must hold. A graph holds no weights: every initializer
is external, and is filled here from the model's safetensors file, which the trust chain has
verified (sha256) before this module is called. Models whose architecture has no graph run on
torch (``restore.load.build_restorer`` decides).

The numpy around the networks (the level head's analysis, the vocoder's inverse STFT) is in
``level_np.py`` and ``dsp/stft_np.py``.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tdpr_cli.dsp.chunking import valid_length
from tdpr_cli.dsp.stft_np import hann, istft
from tdpr_cli.errors import WeightsError
from tdpr_cli.models import level_np
from tdpr_cli.weights.verify import read_verified

GRAPH_DIR = Path(__file__).resolve().parent / "graphs"
INDEX = GRAPH_DIR / "index.json"
#: Initializer names are the model's state-dict keys behind this prefix (the export wrapper's).
PREFIX = "model."


def _index() -> dict[str, Any]:
    return _read_index(INDEX)


@functools.lru_cache(maxsize=4)
def _read_index(path: Path) -> dict[str, Any]:
    """``index.json``, parsed once per process (per path: tests point ``INDEX`` elsewhere)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{path}: unreadable graph index: {exc}") from None
    return data


#: safetensors dtypes numpy reads (``safetensors.numpy``); bf16 and fp8 weights run on torch.
NUMPY_DTYPES = frozenset({"F16", "F32", "F64", "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "BOOL"})


def weight_dtypes(weights: Path) -> set[str]:
    """The dtypes stored in a safetensors file ("F16", "BF16", ...), from its header alone
    (safetensors' own parser); ``WeightsError`` for a file that is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="np") as f:
            return {f.get_slice(k).get_dtype() for k in f.keys()}
    except (OSError, SafetensorError) as exc:
        raise WeightsError(f"{weights}: cannot read safetensors: {exc}") from None


def has_graph(config_sha256: str) -> bool:
    """Whether the architecture with this config sha256 has a shipped graph (nothing is read but
    the index)."""
    return config_sha256 in _index()


@dataclass(frozen=True)
class Graph:
    """A verified graph's bytes and its index entry (``kind``, ``initializers``, ``state_keys``,
    and per architecture ``total_stride``/``conditioned``/``level_head`` or ``n_fft``/``hop``/``n_mels``)."""

    data: bytes
    entry: dict[str, Any]


def load_graph(config_sha256: str, kind: str) -> Graph:
    """The graph of an architecture, its bytes checked against the index's sha256, for a model
    of ``kind`` (tdcnn or vocoder)."""
    from tdpr_cli.digest import sha256_bytes

    entry = _index().get(config_sha256)
    if entry is None:
        raise WeightsError(f"no ONNX graph for architecture {config_sha256[:12]}")
    if entry["kind"] != kind:
        raise WeightsError(f"the {entry['arch']} architecture {config_sha256[:12]} is a {entry['kind']}, expected a {kind}")
    path = GRAPH_DIR / entry["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read graph: {exc}") from None
    if sha256_bytes(data) != entry["sha256"]:
        raise WeightsError(f"{path}: sha256 mismatch with {INDEX.name}: not loaded")
    return Graph(data, entry)


def session(graph: Graph, weights: Path, threads: int, sha256: str | None = None) -> Any:
    """An ONNX Runtime session on ``graph`` with its initializers from ``weights`` (a verified
    safetensors file; floats cast to float32, as ``models.load.load_model`` casts them), on
    ``threads`` CPU threads. With ``sha256`` the tensors come from bytes read once and hashed
    (``weights.verify.read_verified``)."""
    import onnxruntime as ort
    from safetensors import SafetensorError
    from safetensors.numpy import load, load_file

    unreadable = weight_dtypes(weights) - NUMPY_DTYPES
    if unreadable:
        raise WeightsError(f"{weights}: {', '.join(sorted(unreadable))} weights: use --runtime torch")
    try:
        state = load_file(str(weights)) if sha256 is None else load(read_verified(weights, sha256))
    except (OSError, SafetensorError, TypeError) as exc:
        raise WeightsError(f"{weights}: cannot read safetensors: {exc}") from None
    names: list[str] = graph.entry["initializers"]
    # Exactly the model's tensors, as torch's strict load_state_dict demands.
    missing = sorted(set(graph.entry["state_keys"]) - set(state))
    extra = sorted(set(state) - set(graph.entry["state_keys"]))
    if missing or extra:
        what = f"no {missing[0]}" if missing else f"unexpected {extra[0]}"
        raise WeightsError(f"{weights}: weights do not fit the {graph.entry['arch']} graph: {what}")
    values = [np.ascontiguousarray(state[n.removeprefix(PREFIX)], dtype=np.float32) for n in names]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # warnings about unused initializers are not the user's business
    # Idle pool threads sleep rather than spin (torch's OMP_WAIT_POLICY=PASSIVE: on a shared CPU
    # spinning threads cost 1.8-4.2x), and denormals flush to zero (torch.set_flush_denormal).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.set_denormal_as_zero", "1")
    # The session reads the arrays when it is built; keep them alive until then.
    ort_values = [ort.OrtValue.ortvalue_from_numpy(v) for v in values]
    opts.add_external_initializers(names, ort_values)
    try:
        return ort.InferenceSession(graph.data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own untyped errors for a graph it cannot take
        raise WeightsError(f"{weights}: ONNX Runtime cannot build the {graph.entry['arch']} graph: {exc}") from None


class GraphTdcnn:
    """A SEANet TD-CNN on ONNX Runtime: (B, 1, T) float32 at 16 kHz -> (B, 1, T), as the torch
    ``Seanet.forward`` computes it (to float32 rounding)."""

    def __init__(self, graph: Graph, weights: Path, threads: int, sha256: str | None = None) -> None:
        self.entry = graph.entry
        self.total_stride: int = graph.entry["total_stride"]
        self.conditioned: bool = graph.entry["conditioned"]
        self.sess = session(graph, weights, threads, sha256)

    def __call__(self, x: np.ndarray, cutoff_hz: float) -> np.ndarray:
        length = x.shape[-1]
        # The graph was traced at an aligned length: pad here, as Seanet.body pads (zeros).
        aligned = valid_length(length, self.total_stride)
        feeds = {"x": np.pad(x, ((0, 0), (0, 0), (0, aligned - length))).astype(np.float32, copy=False)}
        if self.conditioned:
            feeds["cutoff_hz"] = np.full(x.shape[0], cutoff_hz, np.float32)
        if self.entry["level_head"]:
            feeds["level_features"] = level_np.features(x[:, 0])
        out = self.sess.run(None, feeds)
        y = out[0][..., :length]
        if self.entry["level_head"]:
            y = level_np.apply(np.ascontiguousarray(y[:, 0]), out[1])[:, None]
        return np.asarray(y, np.float32)


class GraphVocoder:
    """The Vocos vocoder on ONNX Runtime: (B, n_mels, N) natural-log mel -> (B, length) float32,
    as ``Vocoder.forward``."""

    def __init__(self, graph: Graph, weights: Path, threads: int, sha256: str | None = None) -> None:
        self.n_fft: int = graph.entry["n_fft"]
        self.hop: int = graph.entry["hop"]
        self.n_mels: int = graph.entry["n_mels"]
        self.window = hann(self.n_fft)
        self.sess = session(graph, weights, threads, sha256)

    def __call__(self, mel: np.ndarray, length: int) -> np.ndarray:
        frames = self.sess.run(None, {"mel": mel.astype(np.float32, copy=False)})[0]
        log_mag, angle = np.split(frames, 2, axis=1)
        # The clamp keeps exp() finite for a degenerate input (as the torch head).
        mag = np.exp(np.minimum(log_mag, 8.0))
        spec = (mag * np.cos(angle) + 1j * (mag * np.sin(angle))).astype(np.complex64)
        return istft(spec, self.n_fft, self.hop, self.window, length)
