"""Build models from verified safetensors + JSON config files, and export them.

Files are read with safetensors only (no pickle). Callers hand in paths that
``tdpr_cli.weights.resolve`` has already verified against their pinned sha256.
An architecture registry maps the config's ``arch`` to (model class, config class).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tdpr_cli.audio.atomic import atomic_write, atomic_write_text
from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.errors import WeightsError
from tdpr_cli.models.audiounet import AudioUNet, AudioUNetConfig
from tdpr_cli.models.base import ModelBase
from tdpr_cli.models.demucs import Demucs, DemucsConfig
from tdpr_cli.models.seanet import Seanet, SeanetConfig
from tdpr_cli.models.subband import SubbandConfig, SubbandTdcnn
from tdpr_cli.models.vocoder import Vocoder, VocoderConfig
from tdpr_cli.weights.verify import canonical_config_sha256, read_model_config, read_verified


@dataclass(frozen=True)
class Arch:
    kind: str
    build: Callable[[dict[str, Any]], ModelBase]


ARCHS: dict[str, Arch] = {
    "seanet": Arch("tdcnn", lambda p: Seanet(SeanetConfig.from_dict(p))),
    "audiounet": Arch("tdcnn", lambda p: AudioUNet(AudioUNetConfig(**p))),
    "demucs": Arch("tdcnn", lambda p: Demucs(DemucsConfig(**p))),
    "subband": Arch("tdcnn", lambda p: SubbandTdcnn(SubbandConfig.from_dict(p))),
    "vocos": Arch("vocoder", lambda p: Vocoder(VocoderConfig.from_dict(p))),
}


def read_config(path: Path) -> dict[str, Any]:
    """A model's JSON config, checked by the trust chain's reader, then for a known architecture and rate."""
    cfg = read_model_config(path)
    if cfg["arch"] not in ARCHS:
        raise WeightsError(f"{path}: unknown architecture {cfg['arch']!r} (known: {', '.join(sorted(ARCHS))})")
    if cfg["sample_rate"] != SAMPLE_RATE:
        raise WeightsError(f"{path}: model works at {cfg['sample_rate']} Hz, tdpr needs {SAMPLE_RATE} Hz")
    return cfg


def build(cfg: dict[str, Any]) -> ModelBase:
    """Instantiate an untrained model from a config dict."""
    try:
        return ARCHS[cfg["arch"]].build(cfg["params"])
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"bad parameters for {cfg['arch']}: {exc}") from None


def load_model(weights: Path, config: Path, kind: str | None = None, sha256: str | None = None,
               config_sha256: str | None = None) -> ModelBase:
    """Model in eval mode, float32, from verified files; ``kind`` checks tdcnn/vocoder. With
    ``sha256`` the weights are read once, hashed and built from those same bytes
    (``weights.verify.read_verified``), and with ``config_sha256`` the config as read must have
    that canonical hash; without them (a trusted local export) both are read as they are."""
    from safetensors import SafetensorError
    from safetensors.torch import load, load_file

    cfg = read_config(config)
    if config_sha256 is not None and canonical_config_sha256(cfg) != config_sha256:
        raise WeightsError(f"{config}: changed since it was verified; not loaded")
    if kind is not None and cfg["kind"] != kind:
        raise WeightsError(f"{config}: is a {cfg['kind']} model, expected a {kind}")
    model = build(cfg)
    try:
        state = load_file(str(weights)) if sha256 is None else load(read_verified(weights, sha256))
    except (OSError, SafetensorError) as exc:
        raise WeightsError(f"{weights}: cannot read safetensors: {exc}") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise WeightsError(f"{weights}: weights do not fit {cfg['arch']} {cfg['params']}: {first}") from None
    model.float().eval()
    return model


def export(model: ModelBase, directory: Path, name: str, extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``name.safetensors`` (fp16 floats) and ``name.json`` into ``directory``."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().half() if v.is_floating_point() else v.detach()).contiguous().cpu()
        for k, v in model.state_dict().items()
    }
    cfg = dict(model.config, sample_rate=SAMPLE_RATE, **(extra or {}))
    w, c = directory / f"{name}.safetensors", directory / f"{name}.json"
    # 0644: shipped weights must be readable by everyone.
    atomic_write(w, lambda tmp: save_file(state, str(tmp)))
    atomic_write_text(c, json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return w, c
