"""``tdpr restore``: one file, stdin/stdout, or a folder tree.

Parses options into a frozen ``RestoreConfig``, loads verified models once,
and runs ``restore.file.restore_file`` per file (``commands.batch``). Progress and logs go to stderr; with
``--json`` one record per file goes to stdout. Raises ``TdprError`` only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from tdpr_cli.commands.console import stderr_console
from tdpr_cli.commands.options import Device, Model, Offline, Sha, Trust, VocoderName, Weights
from tdpr_cli.config import CHUNK_SECONDS, KEEP_MARGIN_HZ, ChunkConfig, PhaseMode, RestoreConfig, Runtime, Subtype
from tdpr_cli.device import Precision
from tdpr_cli.errors import OutputError, UsageError
from tdpr_cli.restore.load import LazyRestorer, ModelChoice

if TYPE_CHECKING:
    from tdpr_cli.commands.batch import BatchOptions, Plan
    from tdpr_cli.commands.local_pool import LocalPool
    from tdpr_cli.commands.ray_pool import RayPool


Input = Annotated[str, typer.Argument(metavar="IN", help="Audio file, folder (with --out), or - for stdin.")]
Output = Annotated[Optional[str], typer.Argument(metavar="OUT", help="Output file, or - for stdout.")]
OutDir = Annotated[Optional[Path], typer.Option(
    "--out", help="Output folder for folder input, which needs one (the input's tree is mirrored in it).")]
FormatOpt = Annotated[Optional[str], typer.Option(
    "--format", metavar="wav|flac|ogg|aiff", help="Folder runs: write every output in this format [each input's own].")]
Phase = Annotated[PhaseMode, typer.Option("--phase", help="band: repair phase above the cutoff; paper: full band; none: TD-CNN only.")]
Consistency = Annotated[int, typer.Option("--consistency", min=0, help="Griffin-Lim projections after phase repair.")]
KeepBand = Annotated[bool, typer.Option(
    "--keep-input-band/--no-keep-input-band",
    help="band and none modes: below the cutoff minus 500 Hz the output is the input itself.")]
Force = Annotated[bool, typer.Option(
    "--force", help="Never pass input through as wideband: a file detection calls wideband is an error (exit 2) "
    "that asks for --cutoff HZ; in a folder run that file fails and the others go on.")]
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
Batch = Annotated[int, typer.Option("--batch-size", min=1, help="Chunks per forward pass (useful on CUDA).")]
PrecisionOpt = Annotated[Precision, typer.Option("--precision", help="Autocast dtype for the models (fp16 needs CUDA).")]
Threads = Annotated[Optional[int], typer.Option(
    "--threads", min=1,
    help="CPU threads for the models [auto: OMP_NUM_THREADS when set, else the idle cores, from the load average; at least 1].")]
RuntimeOpt = Annotated[Runtime, typer.Option(
    "--runtime", help="What runs the networks: onnxruntime (CPU and fp32 only; no torch import, the faster start), "
    "torch, or auto: onnxruntime where it can, else torch.")]
ChunkS = Annotated[float, typer.Option("--chunk-seconds", min=0.5, help="Chunk length in seconds.")]
ManifestOpt = Annotated[Optional[Path], typer.Option(
    "--manifest", help="Append one JSON record per finished file (fsynced), for --resume and tdpr manifest merge.")]
ResumeOpt = Annotated[bool, typer.Option(
    "--resume", help="Skip the files --manifest records as done with the same options, models and output hash.")]
ShardOpt = Annotated[Optional[str], typer.Option(
    "--shard", metavar="K/N", help="Folder runs: only shard K of N (1-based; a stable hash of each relative path).")]
ProgressOpt = Annotated[str, typer.Option(
    "--progress", metavar="auto|bar|plain|none",
    help="auto: a bar on a terminal, plain lines otherwise (a line per file, one every ~10 s of a long file).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or logs, errors only.")]
Json = Annotated[bool, typer.Option("--json", help="One JSON record per file on stdout.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs.")]
SkipExisting = Annotated[bool, typer.Option(
    "--skip-existing", help="Skip files whose output exists (exit 0; for a loop over files as for a folder).")]
ReportFile = Annotated[Optional[Path], typer.Option(
    "--report", help="Write a spectrogram report of the file (.png or .html; needs tdpr-cli[report]).")]
ReportDir = Annotated[Optional[Path], typer.Option(
    "--report-dir", help="Write one report per file (--report-format) and an index.html linking them.")]
RayOpt = Annotated[bool, typer.Option(
    "--ray", help="Folder runs: restore on Ray workers (each loads the models once); needs tdpr-cli[ray].")]
RayAddress = Annotated[Optional[str], typer.Option(
    "--ray-address", metavar="ADDRESS",
    help="Ray cluster to join (e.g. auto, ray://head:10001) [RAY_ADDRESS, else a new local instance].")]
RayWorkers = Annotated[Optional[int], typer.Option(
    "--ray-workers", min=1, help="Ray workers [the cluster's CPUs / --threads].")]
RayGpus = Annotated[float, typer.Option(
    "--ray-gpus-per-worker", min=0.0, help="GPUs reserved per Ray worker (with --device cuda).")]
RayRetries = Annotated[int, typer.Option(
    "--ray-retries", min=0, help="Times a file is handed to a fresh worker after its worker died.")]
JobsOpt = Annotated[str, typer.Option(
    "--jobs", metavar="auto|N",
    help="Folder runs: restore N files at once in worker processes, each with --threads threads [1] "
    "(auto: one per idle core when the folder holds at least 60 s of audio and runs on the CPU, else 1).")]
ReportFormat = Annotated[Optional[str], typer.Option(
    "--report-format", metavar="png|html",
    help="Format of each --report-dir report [html] (--report: its suffix decides).")]


def restore_cmd(
    inp: Input,
    out: Output = None,
    out_dir: OutDir = None,
    fmt: FormatOpt = None,
    model: Model = None,
    vocoder: VocoderName = None,
    weights: Weights = None,
    sha256: Sha = None,
    trust_local: Trust = False,
    offline: Offline = False,
    phase: Phase = PhaseMode.BAND,
    consistency: Consistency = 0,
    force: Force = False,
    keep_input_band: KeepBand = True,
    cutoff: CutoffOpt = "auto",
    subtype: SubtypeOpt = Subtype.PCM_16,
    device: Device = "auto",
    batch_size: Batch = 1,
    precision: PrecisionOpt = Precision.FP32,
    chunk_seconds: ChunkS = CHUNK_SECONDS,
    threads: Threads = None,
    runtime: RuntimeOpt = Runtime.AUTO,
    quiet: Quiet = False,
    json_out: Json = False,
    overwrite: Overwrite = False,
    skip_existing: SkipExisting = False,
    report: ReportFile = None,
    report_dir: ReportDir = None,
    report_format: ReportFormat = None,
    progress: ProgressOpt = "auto",
    manifest: ManifestOpt = None,
    resume: ResumeOpt = False,
    shard: ShardOpt = None,
    jobs: JobsOpt = "auto",
    ray: RayOpt = False,
    ray_address: RayAddress = None,
    ray_workers: RayWorkers = None,
    ray_gpus_per_worker: RayGpus = 0.0,
    ray_retries: RayRetries = 2,
) -> None:
    """Restore band-limited music to 16 kHz with an 8 kHz bandwidth."""
    from tdpr_cli.commands import batch
    from tdpr_cli.report.batch import RestoreReports
    from tdpr_cli.restore.manifest import parse_shard

    fmt = None if fmt is None else fmt.lower().lstrip(".")  # recorded as run options: one spelling
    if (out == "-" or json_out) and sys.stdout is None:  # ">&-": before any work, not after it
        raise OutputError("<stdout>: standard output is closed" + ("; --json writes its records there" if json_out else ""))
    if jobs.strip().lower() != "auto" and not (jobs.strip().isdigit() and int(jobs) >= 1):
        raise UsageError(f"--jobs must be auto or a number >= 1, got {jobs!r}")  # before any other check
    if overwrite and skip_existing:
        raise UsageError("--overwrite and --skip-existing ask opposite things of an existing output; give one")
    plan = batch.plan_outputs(inp, out, out_dir, fmt, parse_shard(shard) if shard else None)
    shaping = {"phase": phase.value, "consistency": consistency, "force": force, "cutoff": cutoff,
               "keep_input_band": keep_input_band, "subtype": subtype.value, "format": fmt,
               "chunk_seconds": chunk_seconds, "batch_size": batch_size, "precision": precision.value}
    opts = batch.BatchOptions(subtype, overwrite, skip_existing, quiet, json_out, progress, manifest, resume, shaping)
    batch.check_outputs(plan, out_dir, opts)
    if plan.unread and not quiet:  # said once: a folder run does not read these (README)
        stderr_console(True).print(f"not read: {len(plan.unread)} hidden or symlinked entr"
                                   f"{'y' if len(plan.unread) == 1 else 'ies'} under {inp} (first: "
                                   f"{plan.unread[0]}); folders behind symlinks and names starting "
                                   "with a dot are passed over", markup=False)
    reports = RestoreReports.plan(report, report_dir, inp, out, out_dir, report_format)
    if out == "-" and sys.stdout is not None and sys.stdout.isatty():
        raise UsageError("refusing to write binary audio to a terminal; redirect stdout or name a file")
    if json_out and out == "-":
        raise UsageError("--json and audio on stdout (-) cannot share stdout")
    cfg = RestoreConfig(
        phase=phase, consistency=consistency, force=force, cutoff_hz=parse_cutoff(cutoff), batch_size=batch_size,
        keep_margin_hz=KEEP_MARGIN_HZ if keep_input_band else None,
        chunk=ChunkConfig.from_seconds(chunk_seconds), runtime=runtime,
    )
    choice = ModelChoice(model, vocoder, weights, sha256, trust_local, offline)
    if ray or ray_address is not None:
        if not plan.folder:
            raise UsageError("--ray is for folder runs: `tdpr restore DIR --out OUTDIR --ray`")
        if reports is not None:
            raise UsageError("--report and --report-dir are not available with --ray (reports need the models here)")
        if jobs.strip().lower() != "auto":
            raise UsageError("--jobs is for local runs; with --ray, --ray-workers sets the width")
        from tdpr_cli.commands.ray_pool import RayOptions, RayPool

        ropts = RayOptions(ray_address, ray_workers, threads or 1, ray_gpus_per_worker, ray_retries)
        _pooled(plan, opts, RayPool(ropts, choice, cfg, device, precision, _warn(quiet)))
        return
    n_jobs = _jobs(jobs, plan, device, reports is not None, threads or 1)
    if n_jobs > 1:
        from tdpr_cli.commands.local_pool import LocalPool

        pool = LocalPool(n_jobs, choice, cfg, device, precision, threads or 1, warn=_warn(quiet))
        _pooled(plan, opts, pool)
        return
    restorer = LazyRestorer(choice, cfg, device, precision, threads)
    if reports is not None:
        reports.info = restorer.info
    batch.run(plan, restorer, restorer.info, opts, stderr_console(True), reports)


def _jobs(text: str, plan: Plan, device: str, reports: bool, threads: int) -> int:
    """Worker processes for this run: ``--jobs`` for folders; 1 for one file, stdin, or reports
    (they need the models in this process)."""
    from tdpr_cli.commands.local_pool import choose_jobs

    if not plan.folder:
        if text.strip().lower() not in ("auto", "1"):  # (a bad value was refused up front)
            raise UsageError("--jobs is for folder runs: `tdpr restore DIR --out OUTDIR --jobs N`")
        return 1
    if reports:
        if text.strip().lower() not in ("auto", "1"):
            raise UsageError("--report-dir needs the models in this process: use --jobs 1 (or leave --jobs out)")
        return 1
    return choose_jobs(text, [inp for inp, _ in plan.pairs], device, threads)


def _warn(quiet: bool) -> Callable[[str], None]:
    """A pool's warnings (a worker died, an output removed): one plain line each on stderr."""
    return lambda message: None if quiet else stderr_console(True).print(message, markup=False)


def _pooled(plan: Plan, opts: BatchOptions, pool: LocalPool | RayPool) -> None:
    """A folder run on ``pool`` (local worker processes or Ray actors), closed whatever happens;
    on an interrupt the workers stop at once."""
    from tdpr_cli.commands import batch

    try:
        batch.run(plan, None, pool.info, opts, stderr_console(True), None, pool)
    except BaseException:
        pool.close(abort=True)
        raise
    pool.close()
