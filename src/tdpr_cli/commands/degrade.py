"""``tdpr degrade IN OUT``: simulate a band-limited recording (paper §3.2).

Applies one low-pass of ``tdpr_cli.train.degrade`` to every channel of any
libsndfile-readable file, keeping its sample rate and channels. Unset choices
(cutoff, filter, order) are drawn from ``--seed`` exactly as training draws
them. The output is PCM_16 by default: its quantisation noise gives the stop
band a realistic floor, where a float file would hold near-exact zeros that
make log-spectral metrics (LSD) meaningless. What was applied goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tdpr_cli.config import Subtype
from tdpr_cli.errors import OutputError, UsageError

RANDOM = "random"

Inp = Annotated[Path, typer.Argument(metavar="IN", help="Input audio file (any format libsndfile reads).")]
Out = Annotated[Path, typer.Argument(metavar="OUT", help="Output file (.wav, .flac, .ogg or .aiff).")]
Cutoff = Annotated[
    float | None,
    typer.Option("--cutoff", help="Cutoff in Hz. Default: uniform in 2500-4000 Hz from --seed."),
]
Filter = Annotated[
    str,
    typer.Option(
        "--filter",
        help="random, or one of butterworth, cheby1, cheby2, ellip, bessel, subsample, stft.",
    ),
]
Order = Annotated[
    str, typer.Option("--order", help="random (6-10, as in the paper), or an integer 1-20.")
]
Seed = Annotated[int, typer.Option("--seed", help="Seed for the random choices.")]
SubtypeOpt = Annotated[Subtype, typer.Option("--subtype", help="Sample format of the output.")]


def _fixed_order(order: str) -> int | None:
    """None for ``random``, else the integer order (range checked by degrade)."""
    if order == RANDOM:
        return None
    try:
        return int(order)
    except ValueError:
        raise UsageError(f"--order must be 'random' or an integer, got {order!r}") from None


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return b.exists() and a.samefile(b)
    except OSError:
        return False


def degrade_cmd(
    inp: Inp,
    out: Out,
    cutoff: Cutoff = None,
    filter: Filter = RANDOM,
    order: Order = RANDOM,
    seed: Seed = 0,
    subtype: SubtypeOpt = Subtype.PCM_16,
) -> None:
    """Low-pass IN into OUT with one of the seven simulation filters."""
    import numpy as np
    from rich.console import Console

    from tdpr_cli.audio_io import AudioSource, write_stream
    from tdpr_cli.train import degrade as sim

    # Paths may hold "[...]", which rich would read as markup; long lines stay whole.
    console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
    if _same_file(Path(inp), Path(out)):
        raise OutputError(f"{out}: output would overwrite the input")
    if filter != RANDOM and filter not in sim.FILTERS:
        raise UsageError(f"--filter must be random or one of {', '.join(sim.FILTERS)}, got {filter!r}")
    if cutoff is not None and not cutoff > 0:
        raise UsageError(f"--cutoff must be a positive frequency in Hz, got {cutoff:g}")
    fixed_order = _fixed_order(order)
    source = AudioSource(inp)
    sr = source.info.sample_rate
    spec = sim.random_spec(
        np.random.default_rng(seed),
        cutoff_range=(cutoff, cutoff) if cutoff is not None else sim.DEFAULT_CUTOFF_RANGE,
        kinds=tuple(sim.FILTERS) if filter == RANDOM else (filter,),
        orders=sim.DEFAULT_ORDERS if fixed_order is None else (fixed_order,),
    )
    sim.validate(sr, spec.cutoff_hz, spec.kind, spec.order)  # before reading the audio
    wave = np.concatenate(list(source.blocks()), axis=1)
    low = sim.degrade(wave, sr, spec.cutoff_hz, spec.kind, spec.order)
    result = write_stream(str(out), [low], sr, low.shape[0], Subtype(subtype))
    console.print(
        f"degrade: {inp} -> {out}: {spec.kind}, order {spec.order}, "
        f"cutoff {spec.cutoff_hz:.1f} Hz ({sr} Hz, {low.shape[0]} ch, seed {seed})"
    )
    if result.gain != 1.0:
        console.print(f"degrade: scaled by {result.gain:.4f} to stay below full scale")
