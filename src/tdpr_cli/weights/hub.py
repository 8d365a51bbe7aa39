"""Hugging Face Hub downloads for pinned weights, and removal of bad downloads.

``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HOME`` and ``HF_HUB_OFFLINE``
once, when it is first imported. tdpr reads them at call time instead and
passes ``endpoint=``, ``cache_dir=`` and ``local_files_only=`` explicitly, so
the environment a command runs in is the one that counts (and tests can point
the client at a local server). The hub library is imported inside functions:
``tdpr --help`` must not pay for it.

The hub library checks sizes but not content hashes, so the caller verifies
each file against the lock and calls :func:`purge` when it does not match.
"""

from __future__ import annotations

import os
from pathlib import Path

from tdpr_cli.errors import WeightsError

_TRUE = {"1", "on", "yes", "true"}


def hub_cache_dir() -> Path:
    """The hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, as huggingface_hub does."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "huggingface" / "hub"


def hub_endpoint() -> str | None:
    """``$HF_ENDPOINT`` without a trailing slash, or None for the public Hub."""
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/")
    return endpoint or None


def is_offline(flag: bool = False) -> bool:
    """Offline when asked on the command line or by ``HF_HUB_OFFLINE=1``."""
    return flag or os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def download(
    repo_id: str, filename: str, revision: str, *, offline: bool, name: str, retry: str = ""
) -> Path:
    """Path of ``filename`` at ``revision`` in the hub cache, downloading it if needed.

    A cached file is returned without calling ``hf_hub_download`` at all: even
    with a pinned commit that function builds request headers, which may cost
    a best-effort network call, and a cached, pinned file needs no network.
    ``name`` is the model's name and ``retry`` the command that fills the cache
    (default ``tdpr weights fetch NAME``), both for the offline message.
    """
    found = cached(repo_id, filename, revision)
    if found is not None:
        return found
    where = f"{filename} of {repo_id}@{revision}"
    if is_offline(offline):
        why = "--offline" if offline else "HF_HUB_OFFLINE is set"
        raise WeightsError(
            f"model {name!r}: {where} is not in the cache and {why}; "
            f"run `{retry or f'tdpr weights fetch {name}'}` while online"
            + ("" if offline else " (with HF_HUB_OFFLINE unset)")
        )
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError
    from huggingface_hub.utils import logging as hub_logging

    # Its retry warnings ("Retrying in 8s", a dozen lines) are not the user's log: the failure
    # is one line of ours, and --quiet means quiet.
    hub_logging.set_verbosity_error()  # type: ignore[no-untyped-call]

    try:
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=hub_cache_dir(),
            endpoint=hub_endpoint(),
        )
    except LocalEntryNotFoundError as exc:  # the Hub is unreachable and nothing is cached
        message = f"model {name!r}: could not download {where}: {_first_line(exc)}"
        raise WeightsError(message) from None
    except (OSError, ValueError) as exc:  # HTTP errors, size mismatches, bad repo ids
        raise WeightsError(
            f"model {name!r}: download of {where} failed: {_first_line(exc)}"
        ) from None
    return Path(path)


def cached(repo_id: str, filename: str, revision: str) -> Path | None:
    """Path of a cached file, or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=hub_cache_dir(), revision=revision)
    return Path(found) if isinstance(found, str) else None


def purge(path: Path) -> None:
    """Delete a cached file: its snapshot link and the blob it points to.

    Only paths inside the hub cache are touched, so a bundled or user file
    can never be deleted by mistake.
    """
    cache = os.path.realpath(hub_cache_dir())
    if not Path(os.path.realpath(path.parent)).is_relative_to(cache):
        return
    blob = Path(os.path.realpath(path))
    path.unlink(missing_ok=True)
    if blob != path and blob.is_relative_to(cache):
        blob.unlink(missing_ok=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
