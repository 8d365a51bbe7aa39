"""Markdown and JSON files of a ``tdpr eval table`` result (``evaltable.run``).

The Markdown is rendered from the JSON-able result alone, so re-rendering a
saved ``.json`` gives back the ``.md`` byte for byte. Both files are written
to a temporary name in the target folder and renamed into place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tdpr_cli.audio.atomic import atomic_write_text
from tdpr_cli.errors import OutputError, UsageError

#: (title, metric, whether to add the spread-across-kinds columns), in report order.
TABLES: tuple[tuple[str, str, bool], ...] = (
    ("LSD (ssr_eval; lower is better)", "lsd", True),
    ("LSD above the cutoff (generated band)", "lsd_high", True),
    ("Phase error 1 - cos, generated band (cutoff to 8 kHz)", "phase_cos_high", False),
    ("Phase error 1 - cos, kept band (50 Hz to cutoff - 250 Hz)", "phase_cos_low", False),
    ("62.5 Hz comb, 4.5-7.5 kHz (dB; the phase-repair frame rate)", "comb", False),
)


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _khz(cutoff: str) -> str:
    return f"{float(cutoff) / 1000:g} kHz"


def metric_table(result: dict[str, Any], metric: str, spread: bool) -> list[str]:
    """Markdown lines: per system a paper-filter row and, if the set has soft kinds, a soft-filter row.

    Columns: the cutoffs, AVG and optionally the spreads across the paper's kinds.
    """
    cutoffs = result["cutoffs"]
    head = ["system", "filters", *(_khz(c) for c in cutoffs), "AVG"]
    if spread:
        head += [f"spread {_khz(c)}" for c in cutoffs]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["rows"]:
        agg = result["summary"][row][metric]
        cells = [result["labels"][row], "paper", *(_cell(agg["by_cutoff"][c]) for c in cutoffs), _cell(agg["avg"])]
        if spread:
            cells += [_cell(agg["spread"][c]) for c in cutoffs]
        lines.append("| " + " | ".join(cells) + " |")
        if agg.get("soft_avg") is not None:
            soft = [result["labels"][row], "soft", *(_cell(agg["soft_by_cutoff"][c]) for c in cutoffs),
                    _cell(agg["soft_avg"])]
            lines.append("| " + " | ".join(soft + ["-"] * (len(head) - len(soft))) + " |")
    return lines


def kind_table(result: dict[str, Any], metric: str = "lsd") -> list[str]:
    """Markdown lines: per system, the mean over cutoffs for each filter kind."""
    kinds, cutoffs = result["kinds"], result["cutoffs"]
    lines = ["| system | " + " | ".join(kinds) + " |", "|" + "---|" * (len(kinds) + 1)]
    for row in result["rows"]:
        by_kind = result["summary"][row][metric]["by_kind"]
        cells = []
        for k in kinds:
            values = [by_kind[c][k] for c in cutoffs if by_kind[c][k] is not None]
            cells.append(_cell(sum(values) / len(values) if values else None))
        lines.append(f"| {result['labels'][row]} | " + " | ".join(cells) + " |")
    return lines


def bias_table(result: dict[str, Any]) -> list[str]:
    """Markdown lines: per system, the level bias of each 500 Hz band (mean over the cutoffs at or
    below the band, paper kinds), the largest magnitude, and ``low_keep``."""
    from tdpr_cli.evaluation.table import BIAS_METRICS

    summary = result["summary"]
    bands = [m for m in BIAS_METRICS if any(summary[r].get(m, {}).get("avg") is not None for r in result["rows"])]
    head = ["system", *(m.removeprefix("bias_") for m in bands), "max abs", "low band vs input (rms)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["rows"]:
        values = [summary[row].get(m, {}).get("avg") for m in bands]
        worst = max((abs(v) for v in values if v is not None), default=None)
        low = summary[row].get("low_keep", {}).get("avg")
        lines.append("| " + " | ".join([result["labels"][row], *(_cell(v) for v in values), _cell(worst),
                                        _cell(low)]) + " |")
    return lines


def _preamble(result: dict[str, Any]) -> list[str]:
    vs, timing = result["valset"], result["timing"]
    lines = [
        "# tdpr eval table",
        "",
        f"- validation set: `{vs['path']}` (manifest sha256 `{vs['manifest_sha256'][:16]}`, "
        f"corpus manifest `{vs['source_manifest_sha256'][:16]}`), "
        f"{vs['clips']} of {vs['clips_in_set']} clips x {vs['seconds']:g} s, {vs['pieces']} pieces, "
        f"soundfonts {', '.join(vs['soundfonts'])}; {vs['files']} LR files"
        + ("" if vs["complete"] else " (**incomplete set**: regenerate when the corpus has grown)"),
        f"- models: {', '.join(f'{k} `{v}`' for k, v in result['models'].items()) if result.get('models') else 'none'}",
        f"- wall time {timing['total_s']:.1f} s ({timing['score_s']:.1f} s scoring); per system: "
        + ", ".join(f"{result['labels'][r]} {s:.1f} s" for r, s in timing["estimate_s"].items()),
    ]
    lines += [f"- note: {n}" for n in vs["notes"]]
    return lines


def render_markdown(result: dict[str, Any]) -> str:
    """The whole report: preamble, the metric tables and the per-kind LSD table."""
    lines = _preamble(result)
    for title, metric, spread in TABLES:
        lines += ["", f"## {title}", "", *metric_table(result, metric, spread)]
    lines += ["", "## Level bias per 500 Hz band, log10 power (+1: 10 dB too quiet)", "", *bias_table(result)]
    lines += ["", "## LSD by filter kind (mean over cutoffs)", "", *kind_table(result)]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


def outputs(stem: Path) -> tuple[Path, Path]:
    """``STEM.md`` and ``STEM.json``, checked before any work: a usable name (not empty, ``.``
    or ``/``), neither a folder, their folder writable (made when they are written)."""
    from tdpr_cli.audio.atomic import output_path_state, writable_folder

    if stem.name in ("", ".", ".."):
        raise UsageError(f"--out {str(stem)!r}: give a file name without suffix, e.g. results/table")
    md, js = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".json")
    for path in (md, js):
        if output_path_state(path, str(path), "written")[0]:
            raise UsageError(f"{path}: is a folder")
    writable_folder(md.absolute().parent, str(md), create=False, role="output folder")
    return md, js


def write(result: dict[str, Any], stem: Path) -> tuple[Path, Path]:
    """Write ``STEM.md`` and ``STEM.json`` (both rendered first, so a failure to render leaves
    neither); return their paths."""
    md, js = outputs(stem)
    md_text, js_text = render_markdown(result), json.dumps(result, indent=1) + "\n"
    _atomic_write(js, js_text)
    _atomic_write(md, md_text)
    return md, js
