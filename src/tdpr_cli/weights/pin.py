"""Pin bundled weights into the packaged lock (``tdpr weights pin``).

This is the maintainers' side of :mod:`tdpr_cli.weights.resolve`: after training,
``tdpr weights pin NAME --kind KIND --dir src/tdpr_cli/weights/bundled [--default]`` hashes
``NAME.safetensors`` and ``NAME.json`` and rewrites the lock, so the hashes
that ship are always computed by code, never pasted by hand. The lock is
rendered whole in a stable order, and the top-level ``weights.lock`` of a
source checkout gets the identical text. With ``--lock PATH`` any other lock
(a user lock pinning local models, a test's lock) can be written the same way;
its bundled paths are then relative to that lock's folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from tdpr_cli.errors import UsageError, WeightsError
from tdpr_cli.weights import verify as hashing
from tdpr_cli.weights.lock import (
    HEADER,
    MODEL_KINDS,
    NAME_RE,
    PACKAGED_LOCK,
    USER_HEADER,
    BundledSource,
    FileEntry,
    ModelEntry,
    atomic_write_text,
    parse_lock_text,
    read_lock,
)
from tdpr_cli.weights.lock_render import render_entry, render_lock


def bundled_entry(name: str, kind: str, dir: Path, lock_dir: Path) -> ModelEntry:
    """Hash ``DIR/NAME.safetensors`` and ``DIR/NAME.json`` into a lock entry.

    The entry's path is relative to ``lock_dir`` (the folder of the lock that
    will name it), which must contain ``dir``: bundled files ship with the lock.
    """
    if kind not in MODEL_KINDS or not NAME_RE.fullmatch(name):
        raise UsageError(f"invalid model name {name!r} or kind {kind!r}")
    rel = os.path.relpath(Path(dir).resolve(), Path(lock_dir).resolve())
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise UsageError(f"{dir}: bundled weights must live under {lock_dir}")
    files = []
    for path in (Path(dir) / f"{name}.safetensors", Path(dir) / f"{name}.json"):
        if not path.is_file():
            raise WeightsError(f"{path}: not found")
        files.append(FileEntry(path.name, hashing.sha256_file(path), path.stat().st_size))
    cfg_path = Path(dir) / f"{name}.json"
    cfg = hashing.read_model_config(cfg_path)
    if cfg["kind"] != kind:
        raise WeightsError(f"{cfg_path}: config says kind {cfg['kind']!r}, not {kind!r}")
    source = BundledSource(PurePosixPath(*Path(rel).parts).as_posix() + "/", Path(lock_dir))
    return ModelEntry(name, kind, hashing.canonical_config_sha256(cfg), source, tuple(files))


def pin_bundled(name: str, kind: str, dir: Path, *, lock_dir: Path = PACKAGED_LOCK.parent) -> str:
    """The TOML ``[[model]]`` block for bundled model ``name`` (nothing is written)."""
    return render_entry(bundled_entry(name, kind, dir, lock_dir))


def write_pin(
    name: str, kind: str, dir: Path, *, lock: Path = PACKAGED_LOCK, default: bool = False
) -> list[Path]:
    """Add or replace bundled model ``name`` in ``lock``; return the files written.

    For the packaged lock of a source checkout, the top-level ``weights.lock``
    is written with the same text so the two never drift apart.
    """
    lock = Path(lock).resolve()
    packaged = lock == Path(PACKAGED_LOCK).resolve()
    if not packaged and Path(PACKAGED_LOCK).is_file() and name in read_lock(Path(PACKAGED_LOCK))[0]:
        # load_lock refuses a user entry that shadows a packaged model, so such a lock would
        # stop every command (exit 3) until edited by hand.
        raise UsageError(f"{name!r} is a packaged model; a user lock may not redefine it, pick another name")
    models, defaults = read_lock(lock)
    models[name] = bundled_entry(name, kind, dir, lock.parent)
    if default:
        defaults[kind] = name
    text = render_lock(list(models.values()), defaults, HEADER if packaged else USER_HEADER)
    parse_lock_text(text, lock)  # never write a lock we could not read back
    targets = [lock]
    if packaged and len(lock.parents) > 2:
        repo = lock.parents[2]  # src/tdpr_cli/weights.lock -> the checkout's root
        if (repo / "pyproject.toml").is_file():
            targets.append(repo / "weights.lock")
    try:
        for target in targets:
            atomic_write_text(target, text)
    except OSError as exc:
        raise WeightsError(f"cannot write the lock: {exc}") from None
    return targets

