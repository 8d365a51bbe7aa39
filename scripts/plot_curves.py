"""Plot training loss and validation LSD against steps from run logs (docs/models.md figure).

    python scripts/plot_curves.py runs/tdcnn-c12/log.jsonl runs/vocoder-d128/log.jsonl --out docs/curves.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _read(path: Path) -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["kind"] == "train"], [r for r in rows if r["kind"] == "valid"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("logs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/curves.png"))
    args = ap.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.logs), 2, figsize=(11, 3.6 * len(args.logs)), squeeze=False)
    for (ax_l, ax_v), log in zip(axes, args.logs):
        train, valid = _read(log)
        name = log.parent.name
        ax_l.plot([r["step"] for r in train], [r["loss"] for r in train], lw=0.8)
        ax_l.set(title=f"{name}: training loss", xlabel="step", ylabel="loss")
        ax_v.plot([r["step"] for r in valid], [r["lsd"] for r in valid], "o-", label="output LSD")
        if valid and "lsd_input" in valid[0]:
            ax_v.axhline(valid[0]["lsd_input"], color="grey", ls="--", label="input LSD")
        if valid and "lsd_high" in valid[0]:
            ax_v.plot([r["step"] for r in valid], [r["lsd_high"] for r in valid], "s-", label="high-band LSD")
        ax_v.set(title=f"{name}: validation", xlabel="step", ylabel="LSD (ssr_eval)")
        ax_v.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
