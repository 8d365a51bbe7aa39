"""Average the weights of TD-CNN checkpoints of one architecture (a "model soup").

    python scripts/soup.py --config A/export/tdcnn.json --out DIR [--name tdcnn]
        A/checkpoint/model.safetensors[:w] B/checkpoint/model.safetensors[:w] ...

Checkpoints that share a training trajectory (a run and its continuation)
lie in one basin of the loss, and their weighted mean often scores better
than either end point (Wortsman et al. 2022; stochastic weight averaging).
Each member is loaded with the shared ``--config`` (strictly, so members of
another architecture are refused), the fp32 tensors are averaged with the
weights ``w`` (default equal, normalised to sum 1) and the result is
exported like a training run's export: ``DIR/NAME.safetensors`` (fp16) and
``DIR/NAME.json``, whose ``training.soup`` names each member's sha256 and
weight. Pin it with ``tdpr weights pin`` like any export.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from tdpr_cli.digest import sha256_file
from tdpr_cli.models.load import export, load_model, read_config


def parse_member(text: str) -> tuple[Path, float]:
    """``PATH`` or ``PATH:WEIGHT`` -> (path, weight); a weight must be a finite number >= 0."""
    path, sep, weight = text.rpartition(":")
    if not sep or not path:
        return Path(text), 1.0
    try:
        w = float(weight)
    except ValueError:
        return Path(text), 1.0  # a path with a colon in it
    if not 0.0 <= w < float("inf"):
        raise SystemExit(f"soup: member weight must be a finite number >= 0, got {weight!r}")
    return Path(path), w


def soup(config: Path, members: list[tuple[Path, float]]) -> tuple[torch.nn.Module, list[dict[str, object]]]:
    """The weighted mean model of ``members`` and a record of who went in."""
    total = sum(w for _, w in members)
    if total <= 0:
        raise SystemExit("soup: member weights must sum to more than 0")
    models = [load_model(p, config, kind="tdcnn") for p, _ in members]
    states = [m.state_dict() for m in models]
    mean = {
        k: sum(s[k].double() * (w / total) for s, (_, w) in zip(states, members)).to(v.dtype)
        if v.is_floating_point()
        else v
        for k, v in states[0].items()
    }
    model = models[0]
    model.load_state_dict(mean, strict=True)
    record = [{"weights": str(p), "sha256": sha256_file(p), "share": w / total} for p, w in members]
    return model, record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True, help="JSON config shared by every member")
    ap.add_argument("--out", type=Path, required=True, help="export folder")
    ap.add_argument("--name", default="tdcnn")
    ap.add_argument("members", nargs="+", help="fp32 safetensors, optionally PATH:WEIGHT")
    args = ap.parse_args()
    members = [parse_member(m) for m in args.members]
    model, record = soup(args.config, members)
    training = dict(read_config(args.config).get("training", {}), soup=record)
    w, c = export(model, args.out, args.name, extra={"training": training})
    print(json.dumps({"weights": str(w), "config": str(c), "members": record}, indent=2))


if __name__ == "__main__":
    main()
