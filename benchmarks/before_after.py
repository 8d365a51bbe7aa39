"""Whole ``tdpr restore`` processes, an older checkout against this one, side by side in one run.

Each round runs every variant once per input, alternating, so that both meet
the same machine; the table keeps the best of ``--repeats`` rounds (wall,
x real time, CPU seconds, peak RSS) and the ratio old/new. Inputs are stereo
44.1 kHz band-limited music (``bench_env.make_input``). The older code is
another source tree (a ``git worktree`` of the older commit), put first on
``PYTHONPATH``; both use this machine's shipped weights and the same options.

    git worktree add --detach /tmp/tdpr-old <commit>
    python benchmarks/before_after.py --old-src /tmp/tdpr-old/src --seconds 1,60 --json results/before_after.json

``--input FILE`` times that file instead (for example an already wideband one, which
``tdpr restore`` passes through).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from bench_env import emit, make_input, run_child, tdpr_args

HERE = Path(__file__).resolve().parents[1] / "src"


def log(msg: str) -> None:
    print(f"[before_after] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-src", type=Path, required=True, help="src/ folder of the older checkout")
    ap.add_argument("--seconds", default="1,60", help="input lengths, comma-separated")
    ap.add_argument("--input", type=Path, help="time this audio file instead of the synthetic inputs (--seconds is then unused)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("extra", nargs="*", help="more tdpr restore options, after --")
    args = ap.parse_args()
    variants = {"old": args.old_src.resolve(), "new": HERE}
    for name, src in variants.items():
        if not (src / "tdpr_cli" / "__init__.py").exists():
            raise SystemExit(f"{name}: no tdpr_cli package under {src}")
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory(prefix="tdpr-ba-") as tmp:
        for seconds, src in _inputs(args, Path(tmp)):
            best: dict[str, dict] = {}
            for _ in range(args.repeats):
                for name, code in variants.items():
                    env = dict(os.environ, PYTHONPATH=str(code), OMP_WAIT_POLICY="PASSIVE")
                    run = run_child(tdpr_args("restore", str(src), str(Path(tmp) / f"{name}.wav"), "--overwrite",
                                              "--quiet", *args.extra), env)
                    if run.returncode != 0:
                        raise SystemExit(f"{name} failed ({run.returncode}): {run.stderr}")
                    log(f"{seconds:g} s, {name}: {run.wall_s:.2f} s, CPU {run.cpu_s:.2f} s, "
                        f"{run.max_rss_mb:.0f} MB (load {run.load:.2f})")
                    row = {"wall_s": run.wall_s, "x_rt": seconds / run.wall_s, "cpu_s": run.cpu_s,
                           "max_rss_mb": run.max_rss_mb, "load": run.load}
                    if name not in best or row["wall_s"] < best[name]["wall_s"]:
                        best[name] = row
            best["old/new wall"] = {"ratio": best["old"]["wall_s"] / best["new"]["wall_s"]}
            results[f"{seconds:g}"] = best
    out = {"old_src": str(variants["old"]), "options": args.extra, "repeats": args.repeats, "results": results}
    emit(out, args.json)


def _inputs(args: argparse.Namespace, tmp: Path) -> list[tuple[float, Path]]:
    """(seconds, path) of each input: ``--input``, else one synthetic file per ``--seconds``."""
    if args.input is not None:
        import soundfile as sf

        return [(sf.info(str(args.input)).duration, args.input.resolve())]
    return [(s, make_input(tmp / f"in-{s:g}s.wav", s)) for s in (float(x) for x in args.seconds.split(","))]


if __name__ == "__main__":
    main()
