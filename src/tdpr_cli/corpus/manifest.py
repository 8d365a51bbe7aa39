"""Corpus bookkeeping: seed derivation, piece-level splits and the manifest file.

``data/manifest.json`` lists every rendered clip::

    {"version": 1, "seed": S, "sample_rate": 16000,
     "clips": [{"path": "train/<piece>__<soundfont>__<take>_<i>.flac",   # relative to data/
                "split": "train", "piece": "<piece id>",
                "source": "music21:<corpus path>" | "procedural:<kind>:<n>",
                "soundfont": "musescore", "duration_s": 29.7, "sha256": "<hex of the file>"}],
     "done": ["<piece id>#<take>", ...]}

``done`` lists finished render jobs so an interrupted run resumes where it
stopped; readers of the clip list can ignore it. The file is always replaced
atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tdpr_cli.audio.atomic import atomic_write_text
from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.digest import derive_seed
from tdpr_cli.errors import InputError, OutputError

MANIFEST_VERSION = 1
MANIFEST_NAME = "manifest.json"

#: Split fractions, applied in this order to a uniform hash of ``(seed, piece)``.
SPLITS: tuple[tuple[str, float], ...] = (("train", 0.90), ("valid", 0.05), ("test", 0.05))


def split_of(piece_id: str, seed: int) -> str:
    """The split of a piece: a pure function of ``(piece_id, seed)``, so pieces never straddle."""
    u = derive_seed(seed, "split", piece_id) / 2.0**64
    edge = 0.0
    for name, fraction in SPLITS:
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1][0]


@dataclass(frozen=True)
class ClipRecord:
    """One manifest entry; ``path`` is relative to the data folder, ``duration_s`` at 16 kHz."""

    path: str
    split: str
    piece: str
    source: str
    soundfont: str
    duration_s: float
    sha256: str


@dataclass
class Manifest:
    """The in-memory manifest; ``done`` holds finished ``"<piece>#<take>"`` job keys."""

    seed: int
    clips: list[ClipRecord] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    sample_rate: int = SAMPLE_RATE
    version: int = MANIFEST_VERSION

    @property
    def hours(self) -> float:
        return sum(c.duration_s for c in self.clips) / 3600.0

    def add_job(self, key: str, clips: list[ClipRecord]) -> None:
        """Record a finished job, replacing any clips an earlier partial run listed for it."""
        paths = {c.path for c in clips}
        self.clips = [c for c in self.clips if c.path not in paths] + list(clips)
        self.done.add(key)

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "clips": [asdict(c) for c in self.clips],
            "done": sorted(self.done),
        }


def load_manifest(path: Path, seed: int) -> Manifest:
    """Read ``path``, or start an empty manifest; a manifest of another seed is refused."""
    if not path.exists():
        return Manifest(seed=seed)
    try:
        raw = json.loads(path.read_text())
        manifest = Manifest(
            seed=int(raw["seed"]),
            clips=[ClipRecord(**c) for c in raw["clips"]],
            done=set(raw.get("done", [])),
            sample_rate=int(raw["sample_rate"]),
            version=int(raw["version"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a valid corpus manifest ({exc})") from exc
    if manifest.version != MANIFEST_VERSION or manifest.sample_rate != SAMPLE_RATE:
        raise InputError(f"{path}: manifest version/sample rate do not match this tdpr")
    if manifest.seed != seed:
        raise InputError(f"{path}: was rendered with --seed {manifest.seed}, not {seed}; use another --out")
    return manifest


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Write the manifest atomically: a reader sees the old or the new file, never half."""
    try:
        atomic_write_text(path, json.dumps(manifest.to_json(), indent=1) + "\n")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc
