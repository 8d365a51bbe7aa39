"""``tdpr degrade IN OUT``: simulate a band-limited recording (paper §3.2 or the soft family).

Applies one low-pass of ``tdpr_cli.simulate.degrade`` to every channel of any
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
PAPER, SOFT = "paper", "soft"

Inp = Annotated[Path, typer.Argument(metavar="IN", help="Input audio file (any format libsndfile reads).")]
Out = Annotated[Path, typer.Argument(metavar="OUT", help="Output file (.wav, .flac, .ogg or .aiff).")]
Cutoff = Annotated[
    float | None,
    typer.Option("--cutoff", help="Cutoff in Hz. Default: uniform in the family's range (paper 2500-4000, "
                 "soft 2000-4500) from --seed."),
]
Filter = Annotated[
    str,
    typer.Option(
        "--filter",
        help="random (the training mix), paper or soft (random within that family), or one of butterworth, "
        "cheby1, cheby2, ellip, bessel, subsample, stft (paper) or soft-butterworth, soft-bessel.",
    ),
]
Order = Annotated[
    str, typer.Option("--order", help="random (paper 6-10, soft 2-5), or an integer 1-20. subsample ignores it.")
]
Shelf = Annotated[
    float | None,
    typer.Option("--shelf-db", help="High-shelf gain in dB one octave below the cutoff (soft kinds only: with "
                 "--filter random a soft kind is drawn). Default: drawn as in training (none half the "
                 "time, else -6..0 dB)."),
]
Seed = Annotated[int, typer.Option("--seed", min=0, help="Seed for the random choices.")]
SubtypeOpt = Annotated[Subtype, typer.Option("--subtype", help="Sample format of the output.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")]


def _fixed_order(order: str) -> int | None:
    """None for ``random``, else the integer order (range checked by degrade)."""
    if order == RANDOM:
        return None
    try:
        return int(order)
    except ValueError:
        raise UsageError(f"--order must be 'random' or an integer, got {order!r}") from None


def choose_spec(filter: str, cutoff: float | None, order: int | None, shelf_db: float | None, seed: int):
    """The ``DegradeSpec`` that the options and ``seed`` select (drawn as training draws them)."""
    import numpy as np

    from tdpr_cli.simulate import degrade as sim

    if filter not in (RANDOM, PAPER, SOFT) and filter not in sim.FILTERS:
        raise UsageError(f"--filter must be random, paper, soft or one of {', '.join(sim.FILTERS)}, got {filter!r}")
    if shelf_db is not None and not abs(shelf_db) < float("inf"):  # nan fails too
        raise UsageError(f"--shelf-db must be a finite gain in dB, got {shelf_db:g}")
    if cutoff is not None and not 0 < cutoff < float("inf"):  # nan fails both
        raise UsageError(f"--cutoff must be a positive frequency in Hz, got {cutoff:g}")
    base = sim.SimConfig()
    share = {RANDOM: base.soft_share, PAPER: 0.0, SOFT: 1.0}.get(filter, float(filter in sim.SOFT_KINDS))
    if shelf_db:  # a shelf asks for a soft kind: draw from that family only, or say so before drawing
        if share == 0.0:
            raise UsageError(f"--shelf-db applies to the soft kinds only ({', '.join(sim.SOFT_KINDS)}), "
                             f"not --filter {filter}")
        share = 1.0

    def narrow(fam: sim.Family) -> sim.Family:
        kinds = fam.kinds if filter in (RANDOM, PAPER, SOFT) else (filter,)
        return sim.Family(kinds, fam.orders if order is None else (order,),
                          fam.cutoff_hz if cutoff is None else (cutoff, cutoff))

    shelf = base.shelf_db if shelf_db is None else (shelf_db, shelf_db)
    cfg = sim.SimConfig(share, narrow(sim.PAPER), narrow(sim.SOFT),
                        base.shelf_probability if shelf_db is None else 1.0, shelf)
    spec = sim.random_spec(np.random.default_rng(seed), cfg)
    return spec if spec.kind in sim.SOFT_KINDS else sim.DegradeSpec(spec.kind, spec.cutoff_hz, spec.order)


def degrade_cmd(
    inp: Inp,
    out: Out,
    cutoff: Cutoff = None,
    filter: Filter = RANDOM,
    order: Order = RANDOM,
    shelf_db: Shelf = None,
    seed: Seed = 0,
    subtype: SubtypeOpt = Subtype.PCM_16,
    overwrite: Overwrite = False,
) -> None:
    """Low-pass IN into OUT with one of the simulation filters (paper or soft family)."""
    import numpy as np
    from rich.console import Console

    from tdpr_cli.audio.atomic import output_path_state
    from tdpr_cli.audio.read import AudioSource, write_stream
    from tdpr_cli.audio.write import check_output_format, same_file
    from tdpr_cli.simulate import degrade as sim

    # Paths may hold "[...]", which rich would read as markup; long lines stay whole.
    console = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
    if same_file(inp, out):
        raise OutputError(f"{out}: output would overwrite the input")
    is_dir, exists = output_path_state(out, str(out), "an output")
    if is_dir:
        raise UsageError(f"{out}: is a folder; give the output's file name")
    check_output_format(str(out), Subtype(subtype))
    if exists and not overwrite:
        raise OutputError(f"{out}: exists; pass --overwrite to replace it")
    spec = choose_spec(filter, cutoff, _fixed_order(order), shelf_db, seed)
    with AudioSource(inp) as source:
        sr = source.info.sample_rate
        sim.validate(sr, spec)  # before reading the audio
        wave = np.concatenate(list(source.blocks()), axis=1)
    low = sim.degrade(wave, sr, spec.cutoff_hz, spec.kind, spec.order, spec.shelf_db)
    result = write_stream(str(out), [low], sr, low.shape[0], Subtype(subtype))
    order_text = "order n/a" if spec.kind == "subsample" else f"order {spec.order}"
    shelf_text = f", shelf {spec.shelf_db:.1f} dB" if spec.shelf_db else ""
    console.print(
        f"degrade: {inp} -> {out}: {spec.kind}, {order_text}, "
        f"cutoff {spec.cutoff_hz:.1f} Hz{shelf_text} ({sr} Hz, {low.shape[0]} ch, seed {seed})"
    )
    if result.gain != 1.0:
        console.print(f"degrade: scaled by {result.gain:.4f} to stay below full scale")
    if result.note:  # e.g. OGG holds Vorbis whatever --subtype says
        console.print(f"degrade: note: {result.note}")
