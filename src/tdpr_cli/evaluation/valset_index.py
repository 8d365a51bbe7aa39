"""Read a built validation set (``tdpr data valset``) for ``tdpr eval table``.

Kept apart from ``valset`` (which builds sets) so that scoring never imports
the degradation code. Every file is checked against the sha256 its manifest
lists, so a table always names exactly the audio it was computed on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tdpr_cli.digest import sha256_bytes, sha256_file
from tdpr_cli.errors import InputError, UsageError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ValsetItem:
    """One LR file: clip id, cutoff (key like ``"2500"`` and Hz), kind, order, LR and reference paths."""

    clip: str
    cutoff: str
    cutoff_hz: float
    kind: str
    order: int
    path: Path
    ref: Path


@dataclass(frozen=True)
class ValsetIndex:
    """The items of a set (possibly limited to its first clips) and what names it."""

    root: Path
    manifest: dict[str, Any]
    manifest_sha256: str
    items: list[ValsetItem]
    clips: list[str]
    cutoffs: list[str]
    kinds: list[str]

    def describe(self) -> dict[str, Any]:
        """JSON-able identity of the set for result files."""
        m = self.manifest
        return {
            "path": str(self.root),
            "manifest_sha256": self.manifest_sha256,
            "clips": len(self.clips),
            "clips_in_set": len(m["clips"]),
            "files": len(self.items),
            "seconds": m["seconds"],
            "seed": m["seed"],
            "complete": m["complete"],
            "soundfonts": sorted({c["soundfont"] for c in m["clips"] if c["id"] in self.clips}),
            "pieces": len({c["piece"] for c in m["clips"] if c["id"] in self.clips}),
            "source_manifest_sha256": m["source_manifest"]["sha256"],
            "notes": list(m["notes"]),
        }


def cutoff_key(hz: float) -> str:
    """The table's column key of a cutoff: ``2500.0 -> "2500"``."""
    return f"{hz:g}"


def _checked(root: Path, rel: str, sha256: str) -> Path:
    path = root / rel
    if not path.is_file():
        raise InputError(f"{path}: listed in {root / MANIFEST_NAME} but missing; regenerate with tdpr data valset")
    if sha256_file(path) != sha256:
        raise InputError(f"{path}: sha256 differs from {root / MANIFEST_NAME}; regenerate with tdpr data valset")
    return path


def load_index(root: Path, limit: int | None = None) -> ValsetIndex:
    """Index of the set under ``root``; ``limit`` keeps only its first clips (sorted ids)."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit must be >= 1, got {limit}")
    path = root / MANIFEST_NAME
    try:
        raw = path.read_bytes()  # the digest names exactly the bytes parsed
        manifest = json.loads(raw)
        clips = sorted(c["id"] for c in manifest["clips"])[:limit]
        refs = {c["id"]: _checked(root, c["ref"], c["sha256"]) for c in manifest["clips"] if c["id"] in clips}
        items = [
            ValsetItem(r["clip"], cutoff_key(r["cutoff_hz"]), float(r["cutoff_hz"]), r["kind"], int(r["order"]),
                       _checked(root, r["path"], r["sha256"]), refs[r["clip"]])
            for r in manifest["items"] if r["clip"] in refs
        ]
        cutoffs = [cutoff_key(c) for c in manifest["cutoffs_hz"]]
        kinds = list(manifest["kinds"])
    except FileNotFoundError:
        raise InputError(f"{path} not found; build the set with `tdpr data valset`") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a validation-set manifest ({exc!r})") from exc
    return ValsetIndex(root, manifest, sha256_bytes(raw), items, clips, cutoffs, kinds)
