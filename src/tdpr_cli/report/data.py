"""What a report holds: the analysed files, the report's contents, and a batch index row.

Plain dataclasses shared by ``report.analyse`` (which fills them) and
``report.plot`` (which draws them), so neither imports the other's code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tdpr_cli.dsp.bandwidth import Bandwidth
    from tdpr_cli.report.phase_view import PhaseView


@dataclass
class Analysis:
    """One file at 16 kHz: spectrogram (dB, (F, cols)), LTAS (dB, (513,)), and facts."""

    path: str
    sample_rate: int
    channels: int
    duration_s: float
    spec_db: np.ndarray
    col_s: float
    ltas_db: np.ndarray
    bandwidth: Bandwidth  # the restore detector's verdict on this file


@dataclass
class ReportData:
    """Everything a report draws; ``header`` rows are shown in order."""

    input: Analysis
    output: Analysis
    cutoff_hz: float
    header: dict[str, str]
    reference: Analysis | None = None
    phase: PhaseView | None = None
    metrics: dict[str, dict[str, float]] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class IndexRow:
    """One line of a batch index: ``report`` is relative to the index, or None."""

    input: str
    status: str
    message: str
    report: str | None = None
