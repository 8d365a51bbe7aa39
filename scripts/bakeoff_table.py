"""One Markdown table from several ``tdpr eval table`` results: the issue-11 bake-off view.

    python scripts/bakeoff_table.py NAME=RESULT.json[:ROW] ... [--clips c00,c01,...] [--by-soundfont] [--by-kind]

Each argument names a system and the JSON of an eval table run; ``ROW`` picks
the row (default ``tdcnn``; ``input``, ``noise-fill``, ``tdpr-band`` ...).
``--clips`` keeps only those clips' records (default: the clips common to
all results), so tables run with different ``--limit`` compare on the same
LR files. Columns: LSD of the paper-filter row at each cutoff and AVG, the
soft-filter AVG, the largest per-band level bias (log10) over the bands and
cutoffs above each cutoff, and ``low_keep``. ``--by-soundfont`` adds the 3 kHz
LSD, AVG and per-band bias of each soundfont's clips (read from the validation
set's manifest, which each result names): the renders differ in brightness by
10 dB and more, and a mean bias near zero can hide one too quiet and one too loud.
``--by-kind`` adds each filter kind's LSD per cutoff and its bias per band (mean over the
records that have the band, i.e. the cutoffs at or below it): two kinds whose ``Wn`` is not
their edge (``cheby2``, ``bessel``) can carry most of a row's gap.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tdpr_cli.evaluation.table import BIAS_METRICS, summarize


def load(spec: str) -> tuple[str, dict, str]:
    name, _, rest = spec.partition("=")
    path, _, row = rest.partition(":")
    return name, json.loads(Path(path).read_text()), row or "tdcnn"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("systems", nargs="+")
    ap.add_argument("--clips")
    ap.add_argument("--by-soundfont", action="store_true", help="add a table per soundfont")
    ap.add_argument("--by-kind", action="store_true", help="add a table per filter kind")
    args = ap.parse_args(argv)
    systems = [load(s) for s in args.systems]
    common = set.intersection(*({r["clip"] for r in res["records"]} for _, res, _ in systems))
    clips = set(args.clips.split(",")) if args.clips else common
    cutoffs = systems[0][1]["cutoffs"]
    head = ["system", *(f"{float(c) / 1000:g} kHz" for c in cutoffs), "AVG", "soft AVG", "max abs bias",
            "low_keep"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res, row in systems:
        records = [r for r in res["records"] if r["row"] == row and r["clip"] in clips]
        s = summarize(records, [row], cutoffs, res["kinds"])[row]
        biases = [s[m]["avg"] for m in BIAS_METRICS if s[m]["avg"] is not None]
        cells = [name, *(f"{s['lsd']['by_cutoff'][c]:.3f}" for c in cutoffs), f"{s['lsd']['avg']:.3f}",
                 f"{s['lsd']['soft_avg']:.3f}" if s["lsd"]["soft_avg"] is not None else "-",
                 f"{max(abs(b) for b in biases):.2f}" if biases else "-",
                 f"{s['low_keep']['avg']:.3f}" if s["low_keep"]["avg"] is not None else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    print(f"{len(clips)} clips: {', '.join(sorted(clips))}", file=sys.stderr)
    print("\n".join(lines))
    # Per-band level bias (paper kinds, mean over the cutoffs at or below the band).
    bands = [m for m in BIAS_METRICS if m != "bias_2.5k"]
    print("\n| system | " + " | ".join(m.removeprefix("bias_") for m in bands) + " |")
    print("|" + "---|" * (len(bands) + 1))
    for name, res, row in systems:
        records = [r for r in res["records"] if r["row"] == row and r["clip"] in clips]
        s = summarize(records, [row], cutoffs, res["kinds"])[row]
        print(f"| {name} | " + " | ".join(f"{s[m]['avg']:+.2f}" if s[m]["avg"] is not None else "-"
                                         for m in bands) + " |")
    if args.by_soundfont:
        by_soundfont(systems, clips, cutoffs, bands)
    if args.by_kind:
        by_kind(systems, clips, cutoffs, bands)


def _mean(values: list[float]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "-"


def by_kind(systems: list[tuple[str, dict, str]], clips: set[str], cutoffs: list[str], bands: list[str]) -> None:
    """Each filter kind's LSD per cutoff and mean level bias per band, per system."""
    shown = [m for m in bands if m in ("bias_3k", "bias_4k", "bias_5k", "bias_6k", "bias_7k")]
    print("\n| system | kind | " + " | ".join(f"{float(c) / 1000:g} kHz" for c in cutoffs) + " | "
          + " | ".join(m.removeprefix("bias_") for m in shown) + " |")
    print("|" + "---|" * (len(cutoffs) + len(shown) + 2))
    for name, res, row in systems:
        records = [r for r in res["records"] if r["row"] == row and r["clip"] in clips]
        for kind in res["kinds"]:
            mine = [r["metrics"] for r in records if r["kind"] == kind]
            lsds = [_mean([r["metrics"]["lsd"] for r in records if r["kind"] == kind and r["cutoff"] == c])
                    for c in cutoffs]
            bias = [[m[b] for m in mine if m.get(b) is not None] for b in shown]
            print(f"| {name} | {kind} | " + " | ".join(lsds) + " | "
                  + " | ".join(f"{sum(v) / len(v):+.2f}" if v else "-" for v in bias) + " |")


def by_soundfont(systems: list[tuple[str, dict, str]], clips: set[str], cutoffs: list[str], bands: list[str]) -> None:
    """The 3 kHz LSD, AVG and per-band bias of each soundfont's clips, per system."""
    print("\n| system | soundfont | clips | 3 kHz | AVG | " + " | ".join(m.removeprefix("bias_") for m in bands) + " |")
    print("|" + "---|" * (len(bands) + 5))
    for name, res, row in systems:
        manifest = json.loads((Path(res["valset"]["path"]) / "manifest.json").read_text())
        fonts = {c["id"]: c["soundfont"] for c in manifest["clips"] if c["id"] in clips}
        for font in sorted(set(fonts.values())):
            mine = {c for c, f in fonts.items() if f == font}
            records = [r for r in res["records"] if r["row"] == row and r["clip"] in mine]
            s = summarize(records, [row], cutoffs, res["kinds"])[row]
            three = s["lsd"]["by_cutoff"].get("3000")
            print(f"| {name} | {font} | {len(mine)} | " + (f"{three:.3f}" if three is not None else "-")
                  + f" | {s['lsd']['avg']:.3f} | "
                  + " | ".join(f"{s[m]['avg']:+.2f}" if s[m]["avg"] is not None else "-" for m in bands) + " |")


if __name__ == "__main__":
    main()
