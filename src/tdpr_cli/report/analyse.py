"""Spectrogram reports: what a restore did to one file, as a picture.

A report compares the input (resampled to 16 kHz) with the output, and with a
full-band reference when there is one: log-magnitude spectrograms on one
colour scale with the detected cutoff drawn in, the long-term average
spectrum (LTAS) of each file, the phase view of ``report_phase`` (one
high-band bin over 40 frames for the TD-CNN and the repaired output, as in
the paper's figure 4), and with a reference the metrics of ``tdpr eval``.

Each file is analysed in one streaming pass (bounded memory for any length):
spectrogram frames are averaged in power into at most ``MAX_COLUMNS``
columns, and the LTAS is the one bandwidth detection uses, so the drawn
cutoff and the drawn spectrum agree. Drawing lives in ``report_plot``
(matplotlib, imported only there).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tdpr_cli.config import SAMPLE_RATE, StftConfig
from tdpr_cli.errors import OutputError, UsageError
from tdpr_cli.report.data import Analysis, IndexRow, ReportData
from tdpr_cli.report.phase_view import BIN_MARGIN_HZ, phase_view

if TYPE_CHECKING:
    from tdpr_cli.restore.stream import ChunkRestorer

#: At most this many spectrogram columns: about one per pixel of the figure.
MAX_COLUMNS = 1200
FORMATS = (".png", ".html")


def require_matplotlib() -> None:
    """UsageError with the install hint when the ``report`` extra is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("reports need matplotlib: install tdpr-cli[report]") from None


def check_report_path(path: Path) -> None:
    """UsageError unless ``path`` ends in .png or .html."""
    if Path(path).suffix.lower() not in FORMATS:
        raise UsageError(f"{path}: a report is a .png or .html file")


class SpectrogramAccumulator:
    """Power spectrogram of a mono stream, pooled to at most ``MAX_COLUMNS`` columns.

    Hann frames of ``n_fft`` samples every ``hop`` samples at 16 kHz; frames
    carry across block boundaries. ``expected`` (samples) sets the pooling
    factor up front so memory stays at one column set whatever the length.
    """

    def __init__(self, expected: int, cfg: StftConfig | None = None, columns: int = MAX_COLUMNS) -> None:
        cfg = cfg or StftConfig()
        self.n_fft, self.hop = cfg.n_fft, cfg.hop
        frames = max(1, expected // self.hop)
        self.pool = max(1, math.ceil(frames / columns))
        self.window = np.hanning(self.n_fft).astype(np.float32)
        self.tail = np.zeros(self.n_fft // 2, np.float32)  # half a frame of zeros: centred framing
        self.cols: list[np.ndarray] = []
        self.acc = np.zeros(self.n_fft // 2 + 1)
        self.count = 0

    def add(self, mono: np.ndarray) -> None:
        """Accumulate (n,) float samples."""
        x = np.concatenate([self.tail, mono.astype(np.float32, copy=False)])
        n = 0 if len(x) < self.n_fft else 1 + (len(x) - self.n_fft) // self.hop
        if n:
            frames = np.lib.stride_tricks.sliding_window_view(x, self.n_fft)[:: self.hop][:n]
            power = np.abs(np.fft.rfft(frames * self.window, axis=-1)) ** 2
            for row in power:  # rows of one block; the pooling boundary may fall anywhere
                self.acc += row
                self.count += 1
                if self.count == self.pool:
                    self._emit()
        self.tail = x[n * self.hop :]

    def _emit(self) -> None:
        self.cols.append((self.acc / self.count).astype(np.float32))
        self.acc[:] = 0.0
        self.count = 0

    def result(self) -> tuple[np.ndarray, float]:
        """((n_fft // 2 + 1, columns) power in dB, seconds per column)."""
        if self.count:
            self._emit()
        power = np.stack(self.cols, axis=1) if self.cols else np.zeros((self.n_fft // 2 + 1, 1), np.float32)
        return 10.0 * np.log10(power + 1e-12), self.pool * self.hop / SAMPLE_RATE


def analyse_file(path: str | Path) -> Analysis:
    """One streaming pass: resample to 16 kHz, spectrogram of the mono mix, LTAS of all channels."""
    from tdpr_cli.audio.read import AudioSource
    from tdpr_cli.audio.resample import output_length, resampled
    from tdpr_cli.dsp.bandwidth import SpectrumAccumulator, detect

    with AudioSource(str(path)) as src:
        spec = SpectrogramAccumulator(output_length(src.info.frames, src.info.sample_rate))
        ltas = SpectrumAccumulator()
        for block in resampled(src):
            spec.add(block.mean(axis=0))
            ltas.add(block)
    db, col_s = spec.result()
    i = src.info
    return Analysis(str(path), i.sample_rate, i.channels, i.duration_s, db, col_s, ltas.ltas_db(), detect(ltas))


def loudest_time(a: Analysis) -> float:
    """Centre (seconds) of the spectrogram column with the most energy."""
    energy = (10.0 ** (a.spec_db / 10.0)).sum(axis=0)
    return (int(np.argmax(energy)) + 0.5) * a.col_s


def short_models(info: dict[str, str]) -> str:
    """'tdcnn: name@sha256:abc...' entries as 'name@abcdef123456' (12 hex digits)."""
    parts = []
    for kind, spec in info.items():
        name, _, sha = spec.partition("@")
        parts.append(f"{kind} {name}@{sha.removeprefix('sha256:')[:12]}")
    return ", ".join(parts) if parts else "-"


def scores(inp: str | Path, out: str | Path, ref: str | Path, cutoff_hz: float | None) -> dict[str, dict[str, float]]:
    """``evaluate.score`` of the input and of the output against the reference (whole files)."""
    from tdpr_cli.evaluation.files import load_pair
    from tdpr_cli.evaluation.metrics import score

    band = cutoff_hz if cutoff_hz is not None and 0 < cutoff_hz < SAMPLE_RATE / 2 else None
    return {name: score(*load_pair(Path(p), Path(ref)), band) for name, p in (("input", inp), ("output", out))}


def build_report(
    inp: str | Path,
    out: str | Path,
    *,
    ref: str | Path | None = None,
    cutoff_hz: float | None = None,
    restorer: ChunkRestorer | None = None,
    header: dict[str, str] | None = None,
    notes: list[str] | None = None,
) -> ReportData:
    """Analyse the files and gather what the report draws.

    ``cutoff_hz`` defaults to the one detected from the input's LTAS. Without a
    ``restorer`` there is no phase view (the caller says why in ``notes``).
    """
    from tdpr_cli.dsp.bandwidth import UNSURE_HINT, describe

    a_in, a_out = analyse_file(inp), analyse_file(out)
    a_ref = analyse_file(ref) if ref is not None else None
    cutoff = cutoff_hz if cutoff_hz is not None else a_in.bandwidth.cutoff_hz
    head = {
        "input": f"{inp} ({a_in.sample_rate} Hz, {a_in.channels} ch, {_clock(a_in.duration_s)})",
        "output": f"{out} ({a_out.sample_rate} Hz, {a_out.channels} ch, {_clock(a_out.duration_s)})",
        "cutoff": f"{cutoff:.0f} Hz (given)" if cutoff_hz is not None
        # This is the report the hint would send the reader to: point at --cutoff only.
        else f"{cutoff:.0f} Hz (detected: {describe(a_in.bandwidth).replace(UNSURE_HINT, 'unsure: set --cutoff HZ if wrong')})",
    }
    if a_ref is not None:
        head["reference"] = f"{ref} ({a_ref.sample_rate} Hz, {a_ref.channels} ch)"
    data = ReportData(a_in, a_out, cutoff, head | (header or {}), a_ref, notes=list(notes or []))
    if restorer is not None:
        if cutoff + BIN_MARGIN_HZ > 7800.0:
            data.notes.append("no phase view: the input is not band-limited below 7.5 kHz")
        else:
            from tdpr_cli.config import RestoreConfig
            from tdpr_cli.restore.decision import decide

            # As restore does: the crossfade spans the detected slope, unless the cutoff is given.
            top = None if cutoff_hz is not None else decide(a_in.bandwidth, RestoreConfig()).slope_top_hz
            data.phase = phase_view(restorer, inp, cutoff, loudest_time(a_in), ref, top)
    if ref is not None:
        data.metrics = scores(inp, out, ref, cutoff)
    return data


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:04.1f}"


def write_report(data: ReportData, path: str | Path) -> Path:
    """Draw ``data`` into ``path`` (.png, or .html with the PNG embedded), atomically."""
    from tdpr_cli.report import plot as report_plot

    path = Path(path)
    check_report_path(path)
    require_matplotlib()
    png = report_plot.figure_png(data)
    body = png if path.suffix.lower() == ".png" else report_plot.html_page(data, png).encode()
    _atomic_write(path, body)
    return path


def _atomic_write(path: Path, body: bytes) -> None:
    from tdpr_cli.audio.atomic import atomic_write_bytes

    try:
        atomic_write_bytes(path, body, suffix=".part")
    except OSError as exc:
        raise OutputError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def write_index(folder: str | Path, rows: list[IndexRow], title: str = "tdpr reports") -> Path:
    """``folder/index.html`` linking every per-file report."""
    from tdpr_cli.report import plot as report_plot

    path = Path(folder) / "index.html"
    _atomic_write(path, report_plot.index_html(rows, title).encode())
    return path
