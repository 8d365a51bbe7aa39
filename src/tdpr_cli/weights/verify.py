"""sha256 verification of weight files, with a cache so a run does not re-hash them.

Hashing a few hundred MB on every ``tdpr`` call would cost seconds, so a file
that was verified once is remembered by its real path together with its size,
``mtime_ns`` and ``ctime_ns``. The record lives in memory for the process and
in ``$TDPR_CACHE_DIR/verified.json`` (default ``$XDG_CACHE_HOME/tdpr``) across
processes. Any change to the file (write, touch, replace) changes one of those
stamps and forces a fresh hash; ``ctime`` cannot be set back by a user, so
restoring the old ``mtime`` after an edit does not fool the cache either.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tdpr_cli.digest import sha256_bytes
from tdpr_cli.digest import sha256_file as sha256_file  # re-exported: callers hash through this module
from tdpr_cli.errors import WeightsError
from tdpr_cli.weights.lock import MODEL_KINDS, atomic_write_text

#: realpath -> {"size", "mtime_ns", "ctime_ns", "sha256"} of files verified in this process.
_MEMORY: dict[str, dict[str, Any]] = {}


def cache_path() -> Path:
    """Where verification records persist: read from the environment at call time."""
    if os.environ.get("TDPR_CACHE_DIR"):
        return Path(os.environ["TDPR_CACHE_DIR"]).expanduser() / "verified.json"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tdpr" / "verified.json"


def clear_memory_cache() -> None:
    """Forget this process's verifications (the on-disk cache stays)."""
    _MEMORY.clear()


def _load_disk() -> dict[str, dict[str, Any]]:
    # A corrupt or unreadable cache only costs a re-hash, so it is never an error.
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_disk(key: str, record: dict[str, Any] | None) -> None:
    data = {k: v for k, v in _load_disk().items() if os.path.exists(k)}
    if record is None:
        data.pop(key, None)
    else:
        data[key] = record
    try:
        atomic_write_text(cache_path(), json.dumps(data, indent=1, sort_keys=True))
    except OSError:
        pass  # read-only home or full disk: verification still happened, only not remembered


def _stamp(st: os.stat_result) -> dict[str, Any]:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns}


def cached_sha256(path: Path) -> str | None:
    """The recorded sha256 of ``path`` if the file is unchanged since; never hashes."""
    key = os.path.realpath(path)
    try:
        stamp = _stamp(os.stat(key))
    except OSError:
        return None
    for record in (_MEMORY.get(key), _load_disk().get(key)):
        if isinstance(record, dict) and {k: record.get(k) for k in stamp} == stamp:
            digest = record.get("sha256")
            if isinstance(digest, str):
                _MEMORY[key] = record
                return digest
    return None


def is_verified(path: Path, sha256: str) -> bool:
    """True when a cache record says ``path`` still has ``sha256``; never hashes."""
    return cached_sha256(path) == sha256


def forget(path: Path) -> None:
    """Drop any record of ``path`` (it was found bad or is about to be deleted)."""
    key = os.path.realpath(path)
    _MEMORY.pop(key, None)
    _save_disk(key, None)


def remember(path: Path, sha256: str) -> None:
    """Record that ``path``, as it is now on disk, hashes to ``sha256``."""
    key = os.path.realpath(path)
    record = {**_stamp(os.stat(key)), "sha256": sha256}
    _MEMORY[key] = record
    _save_disk(key, record)


def verify_file(path: Path, sha256: str, size: int, *, use_cache: bool = True) -> None:
    """Raise ``WeightsError`` unless ``path`` has exactly ``size`` bytes and ``sha256``.

    With ``use_cache`` a matching verification record skips the hash; without
    it the file is always re-hashed (``tdpr weights verify``).
    """
    if use_cache and is_verified(path, sha256):
        return
    try:
        actual_size = os.stat(path).st_size
        actual = sha256_file(path)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weight file: {exc}") from None
    if actual != sha256 or actual_size != size:
        forget(path)
        raise WeightsError(
            f"{path}: sha256 mismatch: expected {sha256} ({size} bytes), "
            f"got {actual} ({actual_size} bytes)"
        )
    remember(path, sha256)


def read_verified(path: Path, sha256: str) -> bytes:
    """The bytes of ``path``, read once and hashed: what a model is then built from is exactly
    what was verified (a file replaced between a check and a second read cannot slip in).
    ``WeightsError`` if they do not hash to ``sha256``. A few MB: milliseconds, no cache."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read weight file: {exc}") from None
    if sha256_bytes(data) != sha256:
        forget(path)
        raise WeightsError(f"{path}: sha256 mismatch: expected {sha256}, got {sha256_bytes(data)}; not loaded")
    return data


def canonical_config_sha256(cfg: Mapping[str, Any]) -> str:
    """sha256 of the architecture part of a model config, independent of formatting.

    Only ``arch``, ``params`` and ``sample_rate`` count: training notes may be
    edited without changing which network the weights belong to.
    """
    core = {"arch": cfg["arch"], "params": cfg["params"], "sample_rate": cfg["sample_rate"]}
    text = json.dumps(core, sort_keys=True, separators=(",", ":"))
    return sha256_bytes(text.encode("utf-8"))


def read_model_config(path: Path) -> dict[str, Any]:
    """Load a model's ``.json`` architecture config and check its required keys."""
    try:
        cfg = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}:{exc.lineno}: invalid JSON model config: {exc.msg}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path}: cannot read model config: {exc}") from None
    if not isinstance(cfg, dict):
        raise WeightsError(f"{path}: model config must be a JSON object")
    missing = [k for k in ("kind", "arch", "params", "sample_rate") if k not in cfg]
    if missing:
        raise WeightsError(f"{path}: model config lacks {', '.join(missing)}")
    if cfg["kind"] not in MODEL_KINDS:
        raise WeightsError(
            f"{path}: unknown model kind {cfg['kind']!r} (expected one of {', '.join(MODEL_KINDS)})"
        )
    return cfg
