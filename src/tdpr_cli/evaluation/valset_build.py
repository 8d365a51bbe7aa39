"""Write the validation set chosen by ``valset.select`` (``tdpr data valset``).

Layout under the output folder: ``ref/<clip>.flac`` (the source samples, bit
for bit), ``lr/<cutoff Hz>/<kind>/<clip>.flac`` and ``manifest.json`` (clips,
items with cutoff, kind, order, paths and sha256, and the source manifest's
sha256). Files are 16 kHz mono PCM_16 FLAC, as real recordings are: LSD
depends on the stop-band noise floor. LR audio is quantised here, by
rounding and clipping (counted per file), rather than by the codec; the JSON
is written with sorted keys and no times, so the same corpus and seed give
the same bytes. The set is built in a hidden sibling folder and renamed into
place, so a reader never sees a half-written set.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import soundfile as sf

from tdpr_cli.audio.atomic import replace_dir
from tdpr_cli.config import SAMPLE_RATE
from tdpr_cli.digest import sha256_file
from tdpr_cli.errors import InputError, OutputError, UsageError
from tdpr_cli.evaluation.valset import CORPUS_MANIFEST, Excerpt, Selection, ValsetConfig, lr_order, read_excerpt, select
from tdpr_cli.evaluation.valset_index import MANIFEST_NAME
from tdpr_cli.simulate.degrade import degrade, family_of

VALSET_VERSION = 2  # 2: the paper's exact filters plus the soft family
PCM16_SCALE = 32768.0


def to_pcm16(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(int16 samples, number clipped) of float audio in [-1, 1) full scale."""
    scaled = np.round(np.asarray(x, np.float64) * PCM16_SCALE)
    clipped = int(np.count_nonzero((scaled > 32767) | (scaled < -32768)))
    return np.clip(scaled, -32768, 32767).astype(np.int16), clipped


def _write_flac(path: Path, pcm: np.ndarray) -> str:
    """Write (T,) int16 as 16 kHz PCM_16 FLAC; return the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, pcm, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return sha256_file(path)


def _build_clip(data_dir: Path, root: Path, clip_id: str, ex: Excerpt, cfg: ValsetConfig) -> tuple[dict, list[dict]]:
    """Write one reference and its LR versions under ``root``; return their manifest records."""
    pcm = read_excerpt(data_dir, ex)
    ref = f"ref/{clip_id}.flac"
    clip = {"id": clip_id, **asdict(ex), "ref": ref, "sha256": _write_flac(root / ref, pcm)}
    wave = pcm.astype(np.float32) / PCM16_SCALE  # exactly what a reader of the FLAC gets
    items = []
    for cutoff in cfg.cutoffs_hz:
        for kind in cfg.kinds:
            order = lr_order(cfg, clip_id, cutoff, kind)
            lr, clipped = to_pcm16(degrade(wave, SAMPLE_RATE, cutoff, kind, order))
            path = f"lr/{cutoff:g}/{kind}/{clip_id}.flac"
            items.append({
                "clip": clip_id, "cutoff_hz": cutoff, "kind": kind, "order": order,
                "path": path, "ref": ref, "sha256": _write_flac(root / path, lr), "clipped_samples": clipped,
            })
    return clip, items


def _header(cfg: ValsetConfig, sel: Selection) -> dict:
    return {
        "version": VALSET_VERSION,
        "sample_rate": SAMPLE_RATE,
        "seed": cfg.seed,
        "seconds": cfg.seconds,
        "clips_requested": cfg.clips,
        "complete": len(sel.excerpts) == cfg.clips,
        "cutoffs_hz": list(cfg.cutoffs_hz),
        "kinds": list(cfg.kinds),
        "orders": {k: list(family_of(k).orders) for k in cfg.kinds},
        "source_manifest": {
            "path": CORPUS_MANIFEST,
            "sha256": sel.manifest_sha256,
            "valid_pieces": sel.valid_pieces,
            "valid_clips": sel.valid_clips,
            "soundfonts": sel.soundfonts_all,
        },
        "notes": sel.notes,
    }


def build(
    data_dir: Path,
    out_dir: Path,
    cfg: ValsetConfig | None = None,
    overwrite: bool = False,
    on_clip: Callable[[int, int], None] | None = None,
) -> dict:
    """Select, degrade and write the validation set (``cfg`` None: the defaults); return its manifest.

    ``on_clip(done, total)`` is called after each reference clip and its
    ``len(cutoffs) * len(kinds)`` LR files are written.
    """
    cfg = cfg if cfg is not None else ValsetConfig()
    if out_dir.exists() and not overwrite:
        raise UsageError(f"{out_dir} exists; pass --overwrite to regenerate it")
    if out_dir.resolve() == data_dir.resolve():
        raise UsageError("the validation set needs its own folder, not the data folder itself")
    sel = select(data_dir, cfg)
    if not sel.excerpts:
        raise InputError(f"{data_dir / CORPUS_MANIFEST}: the valid split has no usable {cfg.seconds:g} s excerpt yet")
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        manifest = {**_header(cfg, sel), "clips": [], "items": []}
        for i, ex in enumerate(sel.excerpts):
            clip, items = _build_clip(data_dir, tmp, f"c{i:02d}", ex, cfg)
            manifest["clips"].append(clip)
            manifest["items"].extend(items)
            if on_clip is not None:
                on_clip(i + 1, len(sel.excerpts))
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        replace_dir(tmp, out_dir)
    except OSError as exc:
        raise OutputError(f"cannot write the validation set to {out_dir}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest

