"""Where a trained model came from: the ``training`` record of its exported JSON.

Steps, wall-clock time, hardware, the sha256 of the frozen corpus manifest the
run read, the git commit of the code, the seed and the command line: enough
to reproduce the weights with the recipe in docs/models.md.
"""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path
from typing import Any

import torch

from tdpr_cli.digest import sha256_file
from tdpr_cli.train.checkpoint import RunState
from tdpr_cli.train.schedule import TrainConfig


def hardware(device: torch.device) -> str:
    """The accelerator name on CUDA, else the CPU model and the thread count."""
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: platform's answer is all we have
    return f"{model}, {torch.get_num_threads()} thread(s)"


def git_commit() -> dict[str, Any]:
    """HEAD of the checkout this package runs from, and whether the tree had changes."""
    root = Path(__file__).resolve().parents[3]

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "src"))
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"commit": commit or None, "dirty": dirty}


def training_record(
    cfg: TrainConfig, state: RunState, manifest: Path, manifest_step: int, device: torch.device
) -> dict[str, Any]:
    """The ``training`` entry of an exported model's JSON config.

    ``manifest`` is the run's last frozen manifest copy, used from ``manifest_step`` on.
    """
    git = git_commit()
    return {
        "steps": state.step,
        "wall_s": round(state.wall_s, 1),
        "cpu_s": round(state.cpu_s, 1),
        "hardware": hardware(device),
        "device": device.type,
        "data_manifest_sha256": sha256_file(manifest),
        "data_manifest_from_step": manifest_step,
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "seed": cfg.seed,
        "recipe": cfg.command,
        "config": cfg.to_json(),
        "torch": torch.__version__,
        "best_valid": state.best,
        "best_valid_step": state.best_step,
    }
