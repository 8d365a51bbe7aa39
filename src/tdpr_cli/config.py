"""Frozen, validated configuration objects shared by every stage.

Nothing here imports torch or numpy, so the CLI can build and validate a
configuration before any heavy import happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from tdpr_cli.errors import UsageError

#: Output sample rate of tdpr, in Hz. Every model works at this rate.
SAMPLE_RATE = 16_000


class PhaseMode(str, Enum):
    """How TD-PR combines the TD-CNN magnitude with the vocoder phase."""

    BAND = "band"  # replace phase only above the detected cutoff (default)
    PAPER = "paper"  # replace the full-band phase, as Zhang et al. do
    NONE = "none"  # TD-CNN output only


class Runtime(str, Enum):
    """What runs the networks (``--runtime``): ONNX Runtime on the CPU needs no torch import
    (models/graph.py); torch serves CUDA, fp16/bf16 and architectures without a graph."""

    AUTO = "auto"  # onnxruntime where it can serve the run, else torch
    ONNX = "onnxruntime"
    TORCH = "torch"


class Subtype(str, Enum):
    """Sample format of written files."""

    PCM_16 = "PCM_16"
    PCM_24 = "PCM_24"
    FLOAT = "FLOAT"


@dataclass(frozen=True)
class StftConfig:
    """STFT used for phase repair and the vocoder's mel, in samples at 16 kHz."""

    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float = 8000.0

    def __post_init__(self) -> None:
        if self.n_fft <= 0 or self.hop <= 0 or self.hop > self.n_fft:
            raise UsageError(f"invalid STFT: n_fft={self.n_fft}, hop={self.hop}")
        if not 0 <= self.f_min < self.f_max <= SAMPLE_RATE / 2:
            raise UsageError(f"invalid mel range {self.f_min}..{self.f_max} Hz")


@dataclass(frozen=True)
class ChunkConfig:
    """Chunking plan, all lengths in samples at 16 kHz.

    Each chunk's weighted span is ``hop + fade`` samples; it is extended by
    ``context`` real samples on each side (zeros only past the file ends),
    which are cut away after the models ran. The context only has to cover
    how far the models reach (about 0.44 s for the shipped TD-CNN with the
    vocoder; tests/test_pipeline.py holds every bundled pair to it): more
    changes nothing but the cost (1.024 s took 30 % longer, issue 14). Neighbouring spans overlap by
    ``fade`` samples and are cross-faded with Hann halves, then divided by
    the summed window. Every length is a multiple of ``align`` so that chunk
    boundaries fall on the STFT hop and on the TD-CNN's total stride.
    """

    hop: int = 76_800  # 4.8 s
    fade: int = 4_096  # 0.256 s
    context: int = 8_192  # 0.512 s
    align: int = 512

    def __post_init__(self) -> None:
        for name in ("hop", "fade", "context"):
            value = getattr(self, name)
            if value < 0 or value % self.align:
                raise UsageError(
                    f"chunk {name}={value} must be a non-negative multiple of {self.align}"
                )
        if self.hop <= 0 or self.fade > self.hop:
            raise UsageError(f"chunk hop={self.hop} must be positive and >= fade={self.fade}")

    @classmethod
    def from_seconds(
        cls, chunk_s: float, context_s: float = 0.5, fade_s: float = 0.25, align: int = 512
    ) -> ChunkConfig:
        """Round seconds to whole multiples of ``align`` samples (at least one)."""

        def rnd(seconds: float, minimum: int) -> int:
            return max(minimum, round(seconds * SAMPLE_RATE / align)) * align

        fade = rnd(fade_s, 1)
        return cls(hop=max(rnd(chunk_s, 1), fade), fade=fade, context=rnd(context_s, 0), align=align)

    def aligned(self, grid: int) -> ChunkConfig:
        """This plan on a model's chunk grid (``restore.stream.chunk_grid``, samples): unchanged
        when it is on that grid already (``align`` a multiple of it), else each length rounded to
        a whole multiple of ``grid``, at least one for the hop and the fade."""
        if self.align % grid == 0:
            return self

        def rnd(samples: int, minimum: int) -> int:
            return max(minimum, round(samples / grid)) * grid

        fade = rnd(self.fade, 1)
        return ChunkConfig(hop=max(rnd(self.hop, 1), fade), fade=fade, context=rnd(self.context, 0), align=grid)


#: Chunk length of ``tdpr restore`` (and of reports' phase view) unless --chunk-seconds says otherwise.
CHUNK_SECONDS = 4.8

#: The kept band ends this far below the cutoff: filters start to fall before their cutoff.
KEEP_MARGIN_HZ = 500.0


@dataclass(frozen=True)
class RestoreConfig:
    """Everything a restore (``restore.file.restore_file``, ``restore.pipeline.Restorer``) needs
    besides the models."""

    phase: PhaseMode = PhaseMode.BAND
    consistency: int = 0  # Griffin-Lim projections after phase repair
    crossfade_hz: float = 250.0  # width of the band-mode phase crossfade
    # band and none modes: below (cutoff - this) the output is the input itself; None: off
    keep_margin_hz: float | None = KEEP_MARGIN_HZ
    # no pass-through: input detected as wideband is refused (exit 2) rather than copied,
    # and the user is asked for --cutoff (restore.decision.decide)
    force: bool = False
    cutoff_hz: float | None = None  # the input's band limit, set by the user; None: detect it
    wideband_hz: float = 7_000.0  # detected cutoffs at or above this pass through
    stft: StftConfig = field(default_factory=StftConfig)
    chunk: ChunkConfig = field(default_factory=ChunkConfig)
    batch_size: int = 1  # chunks per forward pass
    runtime: Runtime = Runtime.AUTO  # what runs the networks

    def __post_init__(self) -> None:
        if self.consistency < 0:
            raise UsageError("--consistency must be >= 0")
        if self.batch_size < 1:
            raise UsageError("--batch-size must be >= 1")
        if self.crossfade_hz < 0:
            raise UsageError("crossfade width must be >= 0 Hz")
        if self.keep_margin_hz is not None and self.keep_margin_hz < 0:
            raise UsageError("the kept band's margin must be >= 0 Hz")
        if self.cutoff_hz is not None and not 0 < self.cutoff_hz < SAMPLE_RATE / 2:
            raise UsageError(f"--cutoff must lie strictly between 0 and {SAMPLE_RATE // 2} Hz, got {self.cutoff_hz:g}")
