"""``weights.lock``: the models tdpr may load, each file pinned by size and sha256.

The lock is TOML, written by ``tdpr weights pin`` (bundled
models) and ``tdpr weights add`` (Hugging Face models in the user lock)::

    version = 1
    [defaults]
    tdcnn = "seanet-piano-16k"
    [[model]]
    name = "seanet-piano-16k"
    kind = "tdcnn"
    config_sha256 = "<64 hex>"
    source = { type = "bundled", path = "weights/bundled/" }
    [[model.file]]
    filename = "seanet-piano-16k.safetensors"
    sha256 = "<64 hex>"
    size = 1234

A bundled ``path`` is relative to the directory holding the lock (for the
packaged lock, the package directory). A Hugging Face source names a 40-hex
commit, never a branch or tag, because those move and the hashes would not.
Every problem is reported as ``FILE:LINE: ...`` so a hand edit is easy to fix.
This module only parses (``lockrender`` writes the text); downloading and hashing live elsewhere.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

from tdpr_cli.audio import atomic
from tdpr_cli.errors import WeightsError

ModelKind = Literal["tdcnn", "vocoder"]
MODEL_KINDS: tuple[str, ...] = get_args(ModelKind)
LOCK_VERSION = 1
PACKAGE_DIR = Path(__file__).resolve().parent.parent
PACKAGED_LOCK = PACKAGE_DIR / "weights.lock"

SHA256_RE = re.compile(r"[0-9a-f]{64}")
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
REPO_ID_RE = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

HEADER = (
    "# Models tdpr may load; every file is pinned by size and sha256.\n"
    "# Generated: edit with `tdpr weights pin` (bundled models).\n"
    "# Keep src/tdpr_cli/weights.lock and the top-level weights.lock identical.\n"
)
USER_HEADER = (
    "# Your own models, merged on top of the weights.lock that ships with tdpr.\n"
    "# Add entries with `tdpr weights add hf://REPO@COMMIT/FILE.safetensors`.\n"
)


@dataclass(frozen=True)
class FileEntry:
    """One pinned file of a model."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class BundledSource:
    """Files shipped next to the lock; ``path`` is relative to ``root``."""

    path: str
    root: Path

    @property
    def directory(self) -> Path:
        """The folder holding the files."""
        return self.root / self.path


@dataclass(frozen=True)
class HfSource:
    """Files of a Hugging Face model repository at one immutable commit."""

    repo_id: str
    revision: str


@dataclass(frozen=True)
class ModelEntry:
    """One ``[[model]]`` of a lock: a weights file plus its architecture config."""

    name: str
    kind: str
    config_sha256: str
    source: BundledSource | HfSource
    files: tuple[FileEntry, ...]
    origin: str = ""  # "FILE:LINE" of the entry, for messages

    @property
    def weights_file(self) -> FileEntry:
        """The ``.safetensors`` file (validation guarantees exactly one)."""
        return next(f for f in self.files if f.filename.endswith(".safetensors"))

    @property
    def config_file(self) -> FileEntry:
        """The ``.json`` architecture config (validation guarantees exactly one)."""
        return next(f for f in self.files if f.filename.endswith(".json"))


@dataclass(frozen=True)
class Lock:
    """The packaged lock with the user lock merged on top."""

    models: dict[str, ModelEntry] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)


class _Where:
    """Finds line numbers in the lock text; tomllib reports none for valid TOML."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        header = re.compile(r"\s*\[\[\s*model\s*\]\]")
        self.starts = [i for i, line in enumerate(self.lines) if header.match(line)]

    def _span(self, index: int | None) -> range:
        if index is None or index >= len(self.starts):
            return range(len(self.lines))
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.lines)
        return range(self.starts[index], end)

    def at(self, index: int | None, key: str | None = None, value: Any = None) -> str:
        """``FILE:LINE`` of ``key = value`` in model ``index`` (or the entry's header)."""
        span = self._span(index)
        if key is not None:
            shown = "" if value is None else value if isinstance(value, str) else json.dumps(value)
            shown = re.escape(shown)
            pattern = re.compile(rf"(?<![\w-]){re.escape(key)}\s*=\s*[\"']?{shown}")
            for i in span:
                if pattern.search(self.lines[i]):
                    return f"{self.path}:{i + 1}"
        if index is not None and index < len(self.starts):
            return f"{self.path}:{self.starts[index] + 1}"
        return str(self.path)


def _fail(where: str, what: str) -> WeightsError:
    return WeightsError(f"{where}: {what}")


def _check_keys(table: Any, allowed: set[str], where: str, what: str) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _fail(where, f"{what} must be a table")
    problems = [f"unknown key {k!r}" for k in sorted(set(table) - allowed)]
    problems += [f"missing key {k!r}" for k in sorted(allowed - set(table))]
    if problems:
        raise _fail(where, f"{what}: {', '.join(problems)}")
    return table


def _check_sha(value: Any, where: _Where, index: int, key: str, what: str) -> str:
    if not isinstance(value, str) or not SHA256_RE.fullmatch(value):
        raise _fail(
            where.at(index, key, value),
            f"{what}: {key} must be 64 lowercase hex digits, got {value!r}",
        )
    return value


def _check_relpath(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"{what} must be a relative path without '..', got {value!r}")
    parts = PurePosixPath(value).parts
    if not parts or value.startswith("/") or "\\" in value or ".." in parts:
        raise _fail(where, f"{what} must be a relative path without '..', got {value!r}")
    return value


def _parse_source(raw: Any, where: _Where, index: int, what: str, root: Path) -> Any:
    here = where.at(index, "source")
    if not isinstance(raw, dict) or raw.get("type") not in ("bundled", "hf"):
        raise _fail(here, f"{what}: source.type must be 'bundled' or 'hf'")
    if raw["type"] == "bundled":
        _check_keys(raw, {"type", "path"}, here, f"{what}: source")
        return BundledSource(_check_relpath(raw["path"], here, f"{what}: source.path"), root)
    _check_keys(raw, {"type", "repo_id", "revision"}, here, f"{what}: source")
    repo, rev = raw["repo_id"], raw["revision"]
    if not isinstance(repo, str) or not REPO_ID_RE.fullmatch(repo):
        raise _fail(here, f"{what}: invalid repo_id {repo!r}")
    if not isinstance(rev, str) or not COMMIT_RE.fullmatch(rev):
        raise _fail(
            where.at(index, "revision", rev),
            f"{what}: revision must be a 40-hex commit id, got {rev!r} "
            "(branch and tag names are refused: they move, the pinned hashes would not)",
        )
    return HfSource(repo, rev)


def _parse_file(raw: Any, where: _Where, index: int, what: str) -> FileEntry:
    here = where.at(index, "filename", raw.get("filename") if isinstance(raw, dict) else None)
    _check_keys(raw, {"filename", "sha256", "size"}, here, f"{what}: file")
    name = _check_relpath(raw["filename"], here, f"{what}: filename")
    size = raw["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _fail(where.at(index, "size", size), f"{what}: size must be a non-negative integer")
    digest = _check_sha(raw["sha256"], where, index, "sha256", f"{what}: {name}")
    return FileEntry(name, digest, size)


def _parse_model(raw: Any, where: _Where, index: int, root: Path) -> ModelEntry:
    name = raw.get("name") if isinstance(raw, dict) else None
    here = where.at(index, "name", name) if isinstance(name, str) else where.at(index)
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise _fail(here, f"model #{index + 1}: invalid or missing name {name!r}")
    what = f"model {name!r}"
    _check_keys(raw, {"name", "kind", "config_sha256", "source", "file"}, here, what)
    if raw["kind"] not in MODEL_KINDS:
        raise _fail(
            where.at(index, "kind", raw["kind"]),
            f"{what}: unknown kind {raw['kind']!r} (expected one of {', '.join(MODEL_KINDS)})",
        )
    config_sha = _check_sha(raw["config_sha256"], where, index, "config_sha256", what)
    source = _parse_source(raw["source"], where, index, what, root)
    if not isinstance(raw["file"], list):
        raise _fail(here, f"{what}: 'file' must be an array of [[model.file]] tables")
    files = tuple(_parse_file(f, where, index, what) for f in raw["file"])
    suffixes = sorted(PurePosixPath(f.filename).suffix for f in files)
    if suffixes != [".json", ".safetensors"]:
        raise _fail(here, f"{what}: needs exactly one .safetensors and one .json file")
    return ModelEntry(name, raw["kind"], config_sha, source, files, here)


def _parse_defaults(raw: Any, where: _Where) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise _fail(where.at(None, "defaults"), "[defaults] must be a table")
    for kind, name in raw.items():
        if kind not in MODEL_KINDS or not isinstance(name, str):
            raise _fail(where.at(None, kind), f"[defaults]: invalid entry {kind} = {name!r}")
    return dict(raw)


def parse_lock_text(text: str, path: Path) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    """Parse and validate one lock file's text; bundled paths are relative to its folder."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"at line (\d+)", str(exc))
        place = f"{path}:{line.group(1)}" if line else str(path)
        raise WeightsError(f"{place}: invalid TOML: {exc}") from None
    where = _Where(path, text)
    unknown = sorted(set(data) - {"version", "defaults", "model"})
    if unknown:
        raise _fail(where.at(None, unknown[0]), f"unknown top-level keys {unknown}")
    if data.get("version") != LOCK_VERSION:
        found = where.at(None, "version", data["version"]) if "version" in data else str(path)
        raise _fail(found, f"unsupported lock version {data.get('version')!r} (expected 1)")
    models: dict[str, ModelEntry] = {}
    raw_models = data.get("model", [])
    if not isinstance(raw_models, list):
        raise _fail(where.at(None, "model"), "'model' must be an array of [[model]] tables")
    for index, raw in enumerate(raw_models):
        entry = _parse_model(raw, where, index, path.parent)
        if entry.name in models:
            raise _fail(entry.origin, f"duplicate model name {entry.name!r}")
        models[entry.name] = entry
    return models, _parse_defaults(data.get("defaults", {}), where)


def read_lock(path: Path) -> tuple[dict[str, ModelEntry], dict[str, str]]:
    """Parse one lock file; a missing file is an empty lock."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, {}
    except (OSError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{path}: cannot read lock: {exc}") from None
    return parse_lock_text(text, path)


def user_lock_path() -> Path:
    """``$TDPR_CONFIG_DIR/weights.lock``, else ``$XDG_CONFIG_HOME/tdpr/weights.lock``."""
    if os.environ.get("TDPR_CONFIG_DIR"):
        return Path(os.environ["TDPR_CONFIG_DIR"]).expanduser() / "weights.lock"
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "tdpr" / "weights.lock"


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, then rename over ``path`` (mode 0600 kept)."""
    atomic.atomic_write_text(path, text, mode=None)
