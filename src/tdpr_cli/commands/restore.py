"""``tdpr restore``: one file, stdin/stdout, or a folder tree.

Parses options into a frozen ``RestoreConfig``, loads verified models once,
and runs ``jobs.restore_file`` per file. Progress and logs go to stderr; with
``--json`` one record per file goes to stdout. Raises ``TdprError`` only.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from tdpr_cli.config import ChunkConfig, PhaseMode, RestoreConfig, Subtype
from tdpr_cli.errors import UsageError

# No highlighting or wrapping: file names are data, and logs are read by scripts too.
console = Console(stderr=True, highlight=False, soft_wrap=True)


class Precision(str, Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"


Input = Annotated[str, typer.Argument(help="Audio file, folder (with --out), or - for stdin.")]
Output = Annotated[Optional[str], typer.Argument(help="Output file, or - for stdout.")]
OutDir = Annotated[Optional[Path], typer.Option("--out", help="Output folder for folder input (tree mirrored).")]
Model = Annotated[Optional[str], typer.Option("--model", help="TD-CNN name from weights.lock.")]
VocoderName = Annotated[Optional[str], typer.Option("--vocoder", help="Vocoder name from weights.lock.")]
Weights = Annotated[Optional[Path], typer.Option("--weights", help="Local TD-CNN .safetensors (config: same stem .json).")]
Sha = Annotated[Optional[str], typer.Option("--sha256", help="Expected sha256 of --weights.")]
Trust = Annotated[bool, typer.Option("--trust-local", help="Load --weights without a sha256.")]
Offline = Annotated[bool, typer.Option("--offline", help="Never touch the network (also HF_HUB_OFFLINE=1).")]
Phase = Annotated[PhaseMode, typer.Option("--phase", help="band: repair phase above the cutoff; paper: full band; none: TD-CNN only.")]
Consistency = Annotated[int, typer.Option("--consistency", min=0, help="Griffin-Lim projections after phase repair.")]
Force = Annotated[bool, typer.Option("--force", help="Process even wideband input.")]
CutoffOpt = Annotated[str, typer.Option(
    "--cutoff", metavar="auto|HZ",
    help="The input's band limit in Hz, for every file of the run; auto: detect it per file. A given cutoff "
    "also processes files that detection calls wideband.")]


def parse_cutoff(text: str) -> float | None:
    """``auto`` -> None, else a frequency in Hz (range checked by ``RestoreConfig``)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"--cutoff must be auto or a frequency in Hz, got {text!r}") from None
SubtypeOpt = Annotated[Subtype, typer.Option("--subtype", help="Output sample format.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]
Batch = Annotated[int, typer.Option("--batch-size", min=1, help="Chunks per forward pass (useful on CUDA).")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Autocast dtype for the models (fp16 needs CUDA).")]
ChunkS = Annotated[float, typer.Option("--chunk-seconds", min=0.5, help="Chunk length in seconds.")]
Threads = Annotated[Optional[int], typer.Option("--threads", min=1, help="CPU threads for torch.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or logs, errors only.")]
Json = Annotated[bool, typer.Option("--json", help="One JSON record per file on stdout.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")]
SkipExisting = Annotated[bool, typer.Option("--skip-existing", help="In folder mode, skip files whose output exists.")]
ReportFile = Annotated[Optional[Path], typer.Option("--report", help="Write a spectrogram report of the file (.png or .html; needs tdpr-cli[report]).")]
ReportDir = Annotated[Optional[Path], typer.Option("--report-dir", help="Write one HTML report per file and an index.html linking them.")]


def pick_device(name: str, precision: Precision):
    """torch.device and autocast dtype for ``--device`` and ``--precision``."""
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise UsageError(f"--device {name!r}: use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    dtypes = {Precision.FP32: None, Precision.FP16: torch.float16, Precision.BF16: torch.bfloat16}
    if precision is Precision.FP16 and dev.type == "cpu":
        raise UsageError("--precision fp16 needs a CUDA device; use bf16 or fp32 on the CPU")
    return dev, dtypes[precision]


def load_models(model, vocoder, weights, sha256, trust_local, offline, phase):
    """(tdcnn, vocoder or None, {'tdcnn': 'name@sha', ...}) from the lock or local files."""
    from tdpr_cli.weights import hub
    from tdpr_cli.weights import resolve as W
    from tdpr_cli.models.load import load_model

    offline = hub.is_offline(offline)
    lock = W.load_lock()
    if weights is not None:
        t = W.resolve_local(weights, None, sha256, trust_local)
    else:
        t = W.resolve(lock, model, "tdcnn", offline=offline)
    info = {"tdcnn": f"{t.name}@sha256:{t.sha256}"}
    tdcnn = load_model(t.weights_path, t.config_path, "tdcnn")
    voc = None
    if phase is not PhaseMode.NONE:
        v = W.resolve(lock, vocoder, "vocoder", offline=offline)
        voc = load_model(v.weights_path, v.config_path, "vocoder")
        info["vocoder"] = f"{v.name}@sha256:{v.sha256}"
    return tdcnn, voc, info


def restore_cmd(
    inp: Input,
    out: Output = None,
    out_dir: OutDir = None,
    model: Model = None,
    vocoder: VocoderName = None,
    weights: Weights = None,
    sha256: Sha = None,
    trust_local: Trust = False,
    offline: Offline = False,
    phase: Phase = PhaseMode.BAND,
    consistency: Consistency = 0,
    force: Force = False,
    cutoff: CutoffOpt = "auto",
    subtype: SubtypeOpt = Subtype.PCM_16,
    device: Device = "auto",
    batch_size: Batch = 1,
    precision: PrecisionOpt = Precision.FP32,
    chunk_seconds: ChunkS = 4.8,
    threads: Threads = None,
    quiet: Quiet = False,
    json_out: Json = False,
    overwrite: Overwrite = False,
    skip_existing: SkipExisting = False,
    report: ReportFile = None,
    report_dir: ReportDir = None,
) -> None:
    """Restore band-limited music to 16 kHz with an 8 kHz bandwidth."""
    from tdpr_cli.commands import batch as restore_run
    from tdpr_cli.commands.report import RestoreReports

    pairs, folder = restore_run.plan_outputs(inp, out, out_dir)
    reports = RestoreReports.plan(report, report_dir, inp, out, out_dir)
    if out == "-" and sys.stdout.isatty():
        raise UsageError("refusing to write binary audio to a terminal; redirect stdout or name a file")
    if json_out and out == "-":
        raise UsageError("--json and audio on stdout (-) cannot share stdout")
    cfg = RestoreConfig(
        phase=phase, consistency=consistency, force=force, cutoff_hz=parse_cutoff(cutoff), batch_size=batch_size,
        chunk=ChunkConfig.from_seconds(chunk_seconds),
    )
    import torch

    torch.set_flush_denormal(True)
    if threads:
        torch.set_num_threads(threads)
    dev, amp = pick_device(device, precision)
    tdcnn, voc, info = load_models(model, vocoder, weights, sha256, trust_local, offline, phase)
    from tdpr_cli.restore.pipeline import Restorer

    restorer = Restorer(tdcnn, voc, cfg, dev, amp)
    if reports is not None:
        reports.info = info
    restore_run.run(pairs, folder, restorer, info, subtype, overwrite, skip_existing, quiet, json_out, console, reports)
