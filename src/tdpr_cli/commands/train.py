"""``tdpr train``: train the TD-CNN (``tdcnn``) and the phase-repair vocoder (``vocoder``).

Commands parse options into a frozen ``TrainConfig``, call one function of
``tdpr_cli.train.tasks`` and print progress to stderr. torch and the training
code are imported inside the commands, so ``tdpr --help`` stays instant and
inference never imports them.

SIGTERM reaches the loop as ``KeyboardInterrupt`` (``cli.main`` installs the
handlers); the loop saves a checkpoint on the way out. From a checkout without
installing: ``PYTHONPATH=src python -m tdpr_cli train tdcnn --help``.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from tdpr_cli.commands.console import stderr_console
from tdpr_cli.commands.options import Device
from tdpr_cli.errors import UsageError

if TYPE_CHECKING:
    from tdpr_cli.train.schedule import TrainConfig

app = typer.Typer(help="Train the default models on the rendered corpus.", no_args_is_help=True)

Data = Annotated[Path, typer.Option("--data", help="Corpus folder with manifest.json (tdpr data render --out).")]
Run = Annotated[Path, typer.Option("--run", help="Run folder: frozen manifest, checkpoint, log.jsonl, best weights.")]
MaxSteps = Annotated[int, typer.Option("--max-steps", help="Optimizer steps; the LR decay ends here.")]
MaxMinutes = Annotated[
    Optional[float], typer.Option("--max-minutes", help="Stop after this much training wall time (across resumes).")
]
MaxCpuMinutes = Annotated[
    Optional[float], typer.Option("--max-cpu-minutes", help="Stop after this much CPU time of the training process "
                                  "(across resumes): a budget that stays fair when other work shares the machine.")
]
Batch = Annotated[int, typer.Option("--batch", help="Segments per batch.")]
Segment = Annotated[float, typer.Option("--segment-s", help="Segment length in seconds.")]
Lr = Annotated[float, typer.Option("--lr", help="Peak Adam learning rate.")]
Warmup = Annotated[int, typer.Option("--warmup", help="Linear warm-up steps.")]
MinLr = Annotated[float, typer.Option("--min-lr-ratio", help="Final LR as a fraction of --lr.")]
Sched = Annotated[str, typer.Option("--schedule", help="Decay after warm-up: cosine, exp or constant.")]
Clip = Annotated[float, typer.Option("--clip-norm", help="Gradient norm clipping threshold.")]
CkptEvery = Annotated[int, typer.Option("--ckpt-every", help="Checkpoint every N steps.")]
ValidEvery = Annotated[int, typer.Option("--valid-every", help="Validate every N steps.")]
ValidCount = Annotated[int, typer.Option("--valid-count", help="Fixed validation segments (valid split; "
                                         "a multiple of 9 covers every filter kind equally).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the initialisation and of the data order.")]
Refresh = Annotated[
    int, typer.Option("--refresh-every", help="Re-read the (growing) corpus manifest every N steps; 0: never.")
]
Threads = Annotated[int, typer.Option("--threads", help="torch CPU threads.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue the run in --run from its checkpoint.")]
ExportDir = Annotated[Optional[Path], typer.Option("--export-dir", help="Where NAME.safetensors/.json go [RUN/export].")]
Name = Annotated[Optional[str], typer.Option("--name", help="Exported file stem [tdcnn or vocoder].")]
Init = Annotated[Optional[Path], typer.Option(
    "--init", help="Start a new run from these weights (.safetensors of the same architecture): fine-tuning.")]


def _config(**options: Any) -> TrainConfig:
    """The frozen ``TrainConfig`` of this command line (the options are named, never ``locals()``)."""
    from tdpr_cli.train.schedule import TrainConfig

    return TrainConfig(**options, command=_command_line())


def _command_line() -> str:
    """This invocation as a ``tdpr train ...`` command (``tdpr`` or ``python -m tdpr_cli``)."""
    return shlex.join(["tdpr", *sys.argv[1:]])


def _say(message: str) -> None:
    stderr_console().print(message, highlight=False, soft_wrap=True)


@app.command()
def tdcnn(
    data: Data = Path("data"), run: Run = Path("runs/tdcnn"), max_steps: MaxSteps = 4000,
    max_minutes: MaxMinutes = None, max_cpu_minutes: MaxCpuMinutes = None,
    batch: Batch = 8, segment_s: Segment = 1.0, lr: Lr = 3e-4,
    warmup: Warmup = 200, min_lr_ratio: MinLr = 0.05, schedule: Sched = "cosine", clip_norm: Clip = 1000.0,
    ckpt_every: CkptEvery = 250, valid_every: ValidEvery = 250, valid_count: ValidCount = 36, seed: Seed = 0,
    refresh_every: Refresh = 0,
    device: Device = "cpu", threads: Threads = 1, resume: Resume = False,
    export_dir: ExportDir = None, name: Name = None, init: Init = None,
    soft_share: Annotated[float, typer.Option("--soft-share", help="Share of inputs from the soft filter family "
                                              "(the rest: the paper's seven filters).")] = 0.5,
    colour_probability: Annotated[float, typer.Option(
        "--colour-probability", help="Share of targets given a random spectral tilt (the rest keep the "
        "render's own brightness).")] = 0.9,
    loss: Annotated[str, typer.Option("--loss", help="paper (MR-STFT + 1000 MR-wave) or lsd (LSD-matched "
                                      "log-power MSE + MR log-STFT L1 + 10 MR-wave).")] = "paper",
    arch: Annotated[str, typer.Option("--arch", help="seanet (full rate) or subband (4-band PQMF, "
                                      "U-Net at 4 kHz).")] = "seanet",
    exciter: Annotated[bool, typer.Option("--exciter", help="subband: also feed the subbands of |x|.")] = False,
    channels: Annotated[Optional[int], typer.Option(
        "--channels", help="U-Net width of the first level [seanet 12, subband 24].")] = None,
    strides: Annotated[Optional[str], typer.Option(
        "--strides", help="Comma-separated encoder strides [seanet 2,4,8,8, subband 2,4,4].")] = None,
    upsampler: Annotated[str, typer.Option("--upsampler", help="transposed, nearest or subpixel.")] = "transposed",
    condition: Annotated[bool, typer.Option(
        "--condition-cutoff", help="Tell the U-Net the input's cutoff (FiLM at every level); restore then "
        "passes the detected or given cutoff. With --init from an unconditioned model, the new layers "
        "start as the identity.")] = False,
    level_head: Annotated[bool, typer.Option(
        "--level-head", help="seanet: add a learned 2-8 kHz gain curve read from the input's band "
        "levels (its brightness and band edge). With --init from a model without one, it starts as "
        "the identity.")] = False,
    soundfont_weights: Annotated[Optional[str], typer.Option(
        "--soundfont-weights", help="Share of segments per soundfont, as NAME=W,... (unlisted ones get "
        "0.1) [musescore=0.6,fluidr3=0.2,timgm6mb=0.2].")] = None,
    train_only: Annotated[Optional[str], typer.Option(
        "--train-only", help="Train only the parameters whose names start with this prefix (say level. "
        "for the level head on a trained model), or with !PREFIX all but those (!level.: the network "
        "under a fixed head); the rest stay frozen.")] = None,
    wave_weight: Annotated[Optional[float], typer.Option(
        "--wave-weight", help="Weight of the MR-wave L1 [the --loss recipe's: paper 1000, lsd 10].")] = None,
    kind_weights: Annotated[Optional[str], typer.Option(
        "--kind-weights", help="Relative weight of filter kinds within their family, as KIND=W,... "
        "(unlisted kinds weigh 1) [every kind equally].")] = None,
    stated_cutoff: Annotated[str, typer.Option(
        "--stated-cutoff", metavar="design|edge",
        help="The cutoff a --condition-cutoff model is told in training: each filter's design cutoff (Wn), or "
        "where its gain first falls 3 dB (edge: what detection reads; cheby2 and bessel fall 1-2 kHz "
        "under their Wn).")] = "design",
    hiss_probability: Annotated[float, typer.Option(
        "--hiss-probability", help="Share of training references given a recording's noise floor before they "
        "are band-limited: hiss 35-65 dB under the music, white to pink.")] = 0.0,
    teacher: Annotated[Optional[Path], typer.Option(
        "--teacher", help="Distil: a trained TD-CNN's .safetensors (its .json beside it) whose output is a "
        "second target, with --teacher-weight.")] = None,
    teacher_weight: Annotated[float, typer.Option(
        "--teacher-weight", help="Weight of the loss against --teacher's output (the reference's is 1).")] = 1.0,
) -> None:
    """Train the TD-CNN on on-the-fly degraded segments (--loss picks the objective)."""
    from tdpr_cli.train.losses import LOSS_RECIPES
    from tdpr_cli.train.tasks import train_tdcnn

    if loss not in LOSS_RECIPES:
        raise UsageError(f"--loss must be one of {', '.join(LOSS_RECIPES)}, got {loss!r}")
    weights = dict(LOSS_RECIPES[loss])
    if wave_weight is not None:
        weights["wave_weight"] = wave_weight

    if stated_cutoff != "design" and not condition:
        raise UsageError("--stated-cutoff only changes what a --condition-cutoff model is told; add --condition-cutoff")
    model = _tdcnn_model(arch, exciter, channels, strides, upsampler, condition, level_head)
    cfg = _config(
        data_dir=data, run_dir=run, max_steps=max_steps, max_minutes=max_minutes, max_cpu_minutes=max_cpu_minutes,
        batch=batch, segment_s=segment_s, lr=lr, warmup=warmup, min_lr_ratio=min_lr_ratio, schedule=schedule,
        clip_norm=clip_norm, ckpt_every=ckpt_every, valid_every=valid_every, valid_count=valid_count, seed=seed,
        refresh_every=refresh_every, device=device, threads=threads, resume=resume, export_dir=export_dir,
        export_name=name, init=init, soft_share=soft_share, colour_probability=colour_probability,
        model=model, loss=weights, train_only=train_only, soundfont_weights=_font_weights(soundfont_weights),
        kind_weights=_name_weights(kind_weights, "--kind-weights", "KIND=W"), stated_cutoff=stated_cutoff,
        teacher=teacher, teacher_weight=teacher_weight, hiss_probability=hiss_probability,
    )
    train_tdcnn(cfg, progress=_say)


def _font_weights(text: str | None) -> dict[str, float] | None:
    """``NAME=W,...`` -> {name: weight}; None stays None (the dataset's realism weights)."""
    return _name_weights(text, "--soundfont-weights", "NAME=W")


def _name_weights(text: str | None, option: str, form: str) -> dict[str, float] | None:
    """``NAME=W,...`` -> {name: weight} for ``option``; None stays None (its default)."""
    if text is None:
        return None
    out: dict[str, float] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        name = name.strip()
        if name in out:
            raise UsageError(f"{option} names {name} twice: {text!r}")
        try:
            out[name] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name:
            raise UsageError(f"{option} takes {form},..., got {text!r}")
    return out


def _tdcnn_model(arch: str, exciter: bool, channels: int | None, strides: str | None, upsampler: str,
                 condition: bool = False, level_head: bool = False) -> dict:
    """The model dict of ``tdpr train tdcnn``: ``arch`` plus that architecture's parameters."""
    subband = arch == "subband"
    if arch not in ("seanet", "subband"):
        raise UsageError(f"--arch must be seanet or subband, got {arch!r}")
    if exciter and not subband:
        raise UsageError("--exciter needs --arch subband")
    if level_head and subband:
        raise UsageError("--level-head needs --arch seanet (it shapes the full-band output)")
    text = strides or ("2,4,4" if subband else "2,4,8,8")
    try:
        stride_tuple = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise UsageError(f"--strides must be comma-separated integers, got {text!r}") from None
    if channels is not None and channels < 1:  # 0 became the default width, silently
        raise UsageError(f"--channels must be at least 1, got {channels}")
    unet = {"channels": channels if channels is not None else (24 if subband else 12), "strides": stride_tuple, "upsampler": upsampler,
            "condition": condition}
    return {"arch": arch, "exciter": exciter, "unet": unet} if subband else {"arch": arch, **unet, "level_head": level_head}


@app.command()
def vocoder(
    data: Data = Path("data"), run: Run = Path("runs/vocoder"), max_steps: MaxSteps = 8000,
    max_minutes: MaxMinutes = None, max_cpu_minutes: MaxCpuMinutes = None,
    batch: Batch = 16, segment_s: Segment = 1.0, lr: Lr = 5e-4,
    warmup: Warmup = 200, min_lr_ratio: MinLr = 0.05, schedule: Sched = "cosine", clip_norm: Clip = 1000.0,
    ckpt_every: CkptEvery = 250, valid_every: ValidEvery = 250, valid_count: ValidCount = 28, seed: Seed = 0,
    refresh_every: Refresh = 0,
    device: Device = "cpu", threads: Threads = 1, resume: Resume = False,
    export_dir: ExportDir = None, name: Name = None, init: Init = None,
    dim: Annotated[int, typer.Option("--dim", help="ConvNeXt width.")] = 128,
    intermediate: Annotated[int, typer.Option("--intermediate", help="ConvNeXt MLP width.")] = 384,
    layers: Annotated[int, typer.Option("--layers", help="ConvNeXt blocks.")] = 6,
    mel_weight: Annotated[float, typer.Option("--mel-weight", help="Weight of the mel L1 next to MR-STFT.")] = 1.0,
    phase_weight: Annotated[float, typer.Option(
        "--phase-weight", help="Weight of the phase-derivative losses (instantaneous frequency and group delay "
        "against the target's, on the TD-PR STFT, magnitude-weighted); 0: off.")] = 0.0,
    lock_weight: Annotated[float, typer.Option(
        "--lock-weight", help="Weight of the frame-lock terms: the 62.5 Hz comb (dB) of the phase-only 4-8 kHz "
        "resynthesis of the output, and of the output itself, against the target's; 0: off.")] = 0.0,
    adv_weight: Annotated[float, typer.Option(
        "--adv-weight", help="Weight of the LSGAN generator loss (multi-period + multi-resolution "
        "spectrogram discriminators); 0 with --fm-weight 0: no GAN.")] = 0.0,
    fm_weight: Annotated[float, typer.Option("--fm-weight", help="Weight of the discriminator feature matching L1.")] = 0.0,
    disc_width: Annotated[int, typer.Option("--disc-width", help="Channels of the discriminators' first layers.")] = 8,
    adv_on: Annotated[str, typer.Option(
        "--adv-on", help="What the discriminators judge: vocoder (its output), repaired (its phase under the "
        "target's STFT magnitude) or restored (its phase under the TD-CNN's magnitude, the vocoder fed the "
        "TD-CNN's mel: what tdpr restore builds, with the lock's default TD-CNN frozen).")] = "vocoder",
) -> None:
    """Train the Vocos-style vocoder (MR-STFT + mel L1, optionally adversarial) to resynthesise wideband piano."""
    from tdpr_cli.train.tasks import train_vocoder

    cfg = _config(
        data_dir=data, run_dir=run, max_steps=max_steps, max_minutes=max_minutes, max_cpu_minutes=max_cpu_minutes,
        batch=batch, segment_s=segment_s, lr=lr, warmup=warmup, min_lr_ratio=min_lr_ratio, schedule=schedule,
        clip_norm=clip_norm, ckpt_every=ckpt_every, valid_every=valid_every, valid_count=valid_count, seed=seed,
        refresh_every=refresh_every, device=device, threads=threads, resume=resume, export_dir=export_dir,
        export_name=name, init=init,
        model={"dim": dim, "intermediate": intermediate, "layers": layers},
        loss={"mel_weight": mel_weight, "phase_weight": phase_weight, "lock_weight": lock_weight, "adv_weight": adv_weight,
              "fm_weight": fm_weight, "disc_width": float(disc_width)},
        adv_on=adv_on,
    )
    train_vocoder(cfg, progress=_say)
