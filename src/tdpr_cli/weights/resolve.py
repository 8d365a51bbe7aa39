"""Find a model's files, fetch them if needed, and verify them before anyone loads them.

Every model tdpr loads is named in a lock (:mod:`tdpr_cli.weights.lock`): the
packaged ``weights.lock`` plus an optional user lock merged on top. Resolving
a model locates its ``.safetensors`` weights and ``.json`` architecture config
(bundled in the package, or in the Hugging Face cache at a pinned commit),
checks size and sha256 of both (:mod:`tdpr_cli.weights.verify`) and the config's
canonical architecture hash, and only then returns paths. A download that
fails verification is deleted from the hub cache so it cannot be used later.

Bundled entries are written with ``tdpr weights pin NAME --kind KIND
--dir DIR [--default]``, which hashes the two files and rewrites both the
packaged and the top-level lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

from tdpr_cli.errors import UsageError, WeightsError
from tdpr_cli.weights import hub
from tdpr_cli.weights import verify as hashing
from tdpr_cli.weights.lock import (
    COMMIT_RE,
    MODEL_KINDS,
    NAME_RE,
    PACKAGED_LOCK,
    REPO_ID_RE,
    USER_HEADER,
    BundledSource,
    FileEntry,
    HfSource,
    Lock,
    ModelEntry,
    atomic_write_text,
    parse_lock_text,
    read_lock,
    user_lock_path,
)
from tdpr_cli.weights.lock_render import render_entry, render_lock
from tdpr_cli.weights.pin import pin_bundled, write_pin

__all__ = [
    "Lock", "ModelEntry", "ResolvedModel", "VerifyResult", "add_hf_entry", "load_lock",
    "locate", "pin_bundled", "resolve", "resolve_local", "verified", "verify_all", "write_pin",
]


@dataclass(frozen=True)
class ResolvedModel:
    """Verified files of one model, ready for ``safetensors.torch.load_file``."""

    name: str
    kind: str
    weights_path: Path
    config_path: Path
    sha256: str
    config_sha256: str


class VerifyResult(NamedTuple):
    """One row of :func:`verify_all`; status is ok, mismatch, missing, not-cached or error."""

    name: str
    filename: str
    status: str
    message: str


def load_lock(
    packaged: Path | None = None, user: Path | None | Literal["default"] = "default"
) -> Lock:
    """The packaged lock with the user lock (if any) merged on top.

    A user entry may not reuse a packaged name, so the packaged models always
    mean what the release says; user ``[defaults]`` do override packaged ones.
    """
    packaged = PACKAGED_LOCK if packaged is None else Path(packaged)
    if not packaged.is_file():
        raise WeightsError(f"{packaged}: packaged lock is missing; reinstall tdpr")
    models, defaults = read_lock(packaged)
    _check_defaults(defaults, models, packaged)
    user_path = user_lock_path() if user == "default" else user
    if user_path is not None:
        user_models, user_defaults = read_lock(Path(user_path))
        for name, entry in user_models.items():
            if name in models:
                raise WeightsError(
                    f"{entry.origin}: model {name!r} is already defined in {packaged}; "
                    "a user entry may not shadow it, pick another name"
                )
        models.update(user_models)
        _check_defaults(user_defaults, models, Path(user_path))
        defaults.update(user_defaults)
    return Lock(models=models, defaults=defaults)


def _check_defaults(defaults: dict[str, str], models: dict[str, ModelEntry], path: Path) -> None:
    for kind, name in defaults.items():
        if name not in models or models[name].kind != kind:
            raise WeightsError(f"{path}: [defaults] {kind} = {name!r} is not a {kind} model")


def _entry(lock: Lock, name: str | None, kind: str) -> ModelEntry:
    if name is None:
        if kind not in lock.defaults:
            raise WeightsError(
                f"no default {kind} model in the lock; name one, pass --weights PATH, "
                "or add one with `tdpr weights add`"
            )
        name = lock.defaults[kind]
    if name not in lock.models:
        known = ", ".join(sorted(lock.models)) or "none"
        raise WeightsError(f"unknown model {name!r} (known: {known})")
    entry = lock.models[name]
    if entry.kind != kind:
        raise WeightsError(f"model {name!r} is a {entry.kind} model, not a {kind} model")
    return entry


def locate(entry: ModelEntry, f: FileEntry, *, offline: bool) -> Path:
    """Where one file of ``entry`` is, downloading a hub file if needed; not verified."""
    if isinstance(entry.source, BundledSource):
        path = entry.source.directory / f.filename
        if not path.is_file():
            raise WeightsError(f"model {entry.name!r}: bundled file {path} is missing; reinstall")
        return path
    src = entry.source
    return hub.download(src.repo_id, f.filename, src.revision, offline=offline, name=entry.name)


def verified(entry: ModelEntry, f: FileEntry, path: Path, *, use_cache: bool = True) -> Path:
    """Verify one located file and return it; a bad hub download is deleted from the cache."""
    try:
        hashing.verify_file(path, f.sha256, f.size, use_cache=use_cache)
    except WeightsError as exc:
        if isinstance(entry.source, HfSource):
            hub.purge(path)
            raise WeightsError(f"{exc}; the bad download was removed from the hub cache") from None
        raise WeightsError(f"{exc}; the installed file was altered, reinstall tdpr") from None
    return path


def _check_config(entry: ModelEntry, path: Path) -> None:
    cfg = hashing.read_model_config(path)
    actual = hashing.canonical_config_sha256(cfg)
    if actual != entry.config_sha256:
        raise WeightsError(
            f"{path}: architecture config sha256 mismatch for model {entry.name!r}: "
            f"expected {entry.config_sha256}, got {actual}"
        )
    if cfg["kind"] != entry.kind:
        raise WeightsError(f"{path}: config kind {cfg['kind']!r} but the lock says {entry.kind!r}")


def resolve(lock: Lock, name: str | None, kind: str, *, offline: bool = False) -> ResolvedModel:
    """Locate, fetch if needed, and verify model ``name`` (None: the lock's default)."""
    entry = _entry(lock, name, kind)
    paths = {f.filename: verified(entry, f, locate(entry, f, offline=offline)) for f in entry.files}
    config_path = paths[entry.config_file.filename]
    _check_config(entry, config_path)
    return ResolvedModel(
        name=entry.name,
        kind=entry.kind,
        weights_path=paths[entry.weights_file.filename],
        config_path=config_path,
        sha256=entry.weights_file.sha256,
        config_sha256=entry.config_sha256,
    )


def resolve_local(
    weights: Path, config: Path | None = None, sha256: str | None = None, trust_local: bool = False
) -> ResolvedModel:
    """Verify a user's ``--weights PATH``: against ``sha256``, or not at all if trusted."""
    weights = Path(weights)
    config = weights.with_suffix(".json") if config is None else Path(config)
    for path, what in ((weights, "weights"), (config, "model config")):
        if not path.is_file():
            raise WeightsError(f"{path}: {what} file not found")
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise UsageError(f"--sha256 must be 64 hex digits, got {sha256!r}")
    if sha256 is not None:
        hashing.verify_file(weights, sha256.lower(), weights.stat().st_size)
        digest = sha256.lower()
    else:
        # Remembered either way: the digest is a fact about the file, not an approval of it.
        digest = hashing.cached_sha256(weights) or hashing.sha256_file(weights)
        hashing.remember(weights, digest)
        if not trust_local:
            raise WeightsError(
                f"{weights}: refusing unverified weights; pass --sha256 {digest} "
                "if that is the file you expect, or --trust-local"
            )
    cfg = hashing.read_model_config(config)
    return ResolvedModel(
        name=weights.stem,
        kind=cfg["kind"],
        weights_path=weights,
        config_path=config,
        sha256=digest,
        config_sha256=hashing.canonical_config_sha256(cfg),
    )


_HF_URI = re.compile(r"hf://(?P<repo>[^@]+)@(?P<rev>[^/]+)/(?P<file>.+)")


def _parse_hf_uri(uri: str) -> tuple[str, str, str]:
    found = _HF_URI.fullmatch(uri)
    if not found or not REPO_ID_RE.fullmatch(found["repo"]):
        raise UsageError(f"expected hf://REPO@REVISION/FILE.safetensors, got {uri!r}")
    repo, rev, filename = found["repo"], found["rev"], found["file"]
    if not COMMIT_RE.fullmatch(rev):
        raise UsageError(f"revision {rev!r} is not a 40-hex commit id (branch and tag names move)")
    parts = PurePosixPath(filename).parts
    if not filename.endswith(".safetensors") or ".." in parts or filename.startswith("/"):
        raise UsageError(f"{filename!r}: only a relative .safetensors file can be added")
    return repo, rev, filename


def add_hf_entry(
    uri: str, name: str, kind: str, user_lock_path: Path, *, offline: bool = False
) -> ModelEntry:
    """Download ``hf://REPO@REV/FILE`` and its same-stem ``.json``; pin both in the user lock.

    The hashes recorded are those of the files as downloaded now (trust on
    first use); from then on every use is checked against them.
    """
    repo, rev, filename = _parse_hf_uri(uri)
    if kind not in MODEL_KINDS:
        raise UsageError(f"unknown kind {kind!r} (expected one of {', '.join(MODEL_KINDS)})")
    if not NAME_RE.fullmatch(name):
        raise UsageError(f"invalid model name {name!r}: use letters, digits, '.', '_' and '-'")
    if name in load_lock(user=user_lock_path).models:
        raise UsageError(f"a model named {name!r} is already in the lock")
    files = []
    for fn in (filename, filename.removesuffix(".safetensors") + ".json"):
        retry = f"tdpr weights add {uri} --name {name} --kind {kind}"
        path = hub.download(repo, fn, rev, offline=offline, name=name, retry=retry)
        digest = hashing.sha256_file(path)
        hashing.remember(path, digest)
        files.append((path, FileEntry(fn, digest, path.stat().st_size)))
    cfg = hashing.read_model_config(files[1][0])
    if cfg["kind"] != kind:
        raise WeightsError(f"{files[1][0]}: config says kind {cfg['kind']!r}, not {kind!r}")
    config_sha = hashing.canonical_config_sha256(cfg)
    entry = ModelEntry(name, kind, config_sha, HfSource(repo, rev), (files[0][1], files[1][1]))
    path = Path(user_lock_path)
    old = path.read_text(encoding="utf-8") if path.is_file() else render_lock([], {}, USER_HEADER)
    text = old.rstrip("\n") + "\n\n" + render_entry(entry)
    parse_lock_text(text, path)  # never write a lock we could not read back
    try:
        atomic_write_text(path, text)  # appended, so the user's comments survive
    except OSError as exc:
        raise WeightsError(f"{path}: cannot write the user lock: {exc}") from None
    return entry


def verify_all(lock: Lock, *, offline: bool = True) -> list[VerifyResult]:
    """Re-hash every file of every model, ignoring the verification cache."""
    return [
        VerifyResult(entry.name, f.filename, *_verify_one(entry, f, offline=offline))
        for entry in lock.models.values()
        for f in entry.files
    ]


def _verify_one(entry: ModelEntry, f: FileEntry, *, offline: bool) -> tuple[str, str]:
    """(status, message) of one file; hub files are downloaded only when online."""
    src = entry.source
    if isinstance(src, HfSource) and hub.is_offline(offline):
        path = hub.cached(src.repo_id, f.filename, src.revision)
        if path is None:
            return "not-cached", f"run `tdpr weights fetch {entry.name}` to download it"
    else:
        try:
            path = locate(entry, f, offline=offline)
        except WeightsError as exc:
            return ("missing" if isinstance(src, BundledSource) else "error"), str(exc)
    try:
        verified(entry, f, path, use_cache=False)
        if f == entry.config_file:
            _check_config(entry, path)
    except WeightsError as exc:
        return "mismatch", str(exc)
    return "ok", str(path)

