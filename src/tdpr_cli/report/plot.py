"""Draw a ``report.ReportData`` with matplotlib, and wrap it in HTML.

matplotlib is imported inside the functions and only through the Agg canvas
(no pyplot, no global backend switch), so the rest of tdpr never pays for it
and a report can be drawn from any thread or a headless machine. The figure
has a fixed size (``FIG_INCHES`` at ``DPI``; no tight bounding box), so
every PNG report is ``pixel_size()`` pixels.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
import warnings
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np

from tdpr_cli import __version__
from tdpr_cli.config import SAMPLE_RATE

if TYPE_CHECKING:
    from tdpr_cli.report.data import Analysis, IndexRow, ReportData

FIG_INCHES = (14.0, 9.0)
DPI = 100
#: Colour range of the spectrograms below their common maximum.
DYNAMIC_RANGE_DB = 90.0
#: Digital silence reads at the analyses' floors (spectrogram power 1e-12, LTAS 1e-20). Scaled to
#: its own maximum it would draw in the brightest colour, on an LTAS axis around -250 dB; so
#: the scales never top out lower than these (0 dB full scale for the LTAS), and silence draws
#: dark and off the spectrum's axis.
SPEC_TOP_MIN_DB = -120.0 + DYNAMIC_RANGE_DB
LTAS_TOP_MIN_DB = -200.0 + 10.0
COLOURS = {
    "input": "tab:gray", "output": "tab:blue", "reference": "tab:green", "TD-CNN": "tab:red", "TD-PR": "tab:blue",
}
MARKERS = {"input": ".", "TD-CNN": "s", "TD-PR": "o", "reference": "^"}


def pixel_size() -> tuple[int, int]:
    """(width, height) of every PNG report in pixels."""
    return round(FIG_INCHES[0] * DPI), round(FIG_INCHES[1] * DPI)


def _analyses(data: ReportData) -> dict[str, Analysis]:
    named = {"input": data.input, "output": data.output}
    if data.reference is not None:
        named["reference"] = data.reference
    return named


def _spectrogram(ax, a: Analysis, title: str, cutoff_hz: float, vmax: float):
    """Log-magnitude image, kHz over seconds, with the cutoff drawn as a dashed line."""
    extent = (0.0, a.spec_db.shape[1] * a.col_s, 0.0, SAMPLE_RATE / 2000)
    im = ax.imshow(a.spec_db, origin="lower", aspect="auto", extent=extent, cmap="magma",
                   vmin=vmax - DYNAMIC_RANGE_DB, vmax=vmax, interpolation="nearest")
    ax.axhline(cutoff_hz / 1000, color="white", lw=1.2, ls="--", label=f"cutoff {cutoff_hz:.0f} Hz")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.6)
    return im


def _ltas(ax, data: ReportData) -> None:
    for name, a in _analyses(data).items():
        freqs = np.linspace(0.0, SAMPLE_RATE / 2000, len(a.ltas_db))
        ax.plot(freqs, a.ltas_db, color=COLOURS[name], lw=1.0, label=name)
    ax.axvline(data.cutoff_hz / 1000, color="k", lw=0.8, ls="--", label="cutoff")
    top = max(float(a.ltas_db.max()) for a in _analyses(data).values())
    top = top if top > LTAS_TOP_MIN_DB else 0.0
    ax.set_ylim(top - 110.0, top + 5.0)
    ax.set_xlim(0.0, SAMPLE_RATE / 2000)
    ax.set(title="long-term average spectrum", xlabel="frequency (kHz)", ylabel="power (dB)")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8)


def _phase(ax, data: ReportData) -> None:
    """Paper fig. 4: wrapped phase of one high-band bin, frame by frame (only drawn when there is one)."""
    p = data.phase
    assert p is not None
    for name, phase in p.series.items():
        ax.plot(np.arange(len(phase)), phase, color=COLOURS[name], marker=MARKERS[name],
                ms=3, lw=0.8, label=name, alpha=0.5 if name == "input" else 0.9)
    ax.set_ylim(-np.pi * 1.05, np.pi * 1.05)
    ax.set_yticks([-np.pi, 0, np.pi], ["-π", "0", "π"])
    ax.set_title(f"phase of the {p.freq_hz:.0f} Hz bin from {p.start_s:.2f} s", fontsize=10)
    ax.set(xlabel="STFT frame (hop 16 ms)", ylabel="phase (rad)")
    ax.legend(fontsize=8, ncol=2, loc="lower right")


def _notes(notes: list[str], width: int) -> list[str]:
    """Notes wrapped to ``width`` characters, so none runs off the figure."""
    return [line for n in notes for line in textwrap.wrap(n, width, subsequent_indent="  ")]


def _metrics_text(data: ReportData, width: int = 48) -> str:
    if not data.metrics:
        return "\n".join(["notes:", *_notes(data.notes, width)]) if data.notes else ""
    names = list(data.metrics)
    keys = [k for k in data.metrics[names[0]] if all(k in data.metrics[n] for n in names)]
    lines = [f"{'vs reference':<16}" + "".join(f"{n:>10}" for n in names)]
    lines += [f"{k:<16}" + "".join(f"{data.metrics[n][k]:>10.3f}" for n in names) for k in keys]
    return "\n".join(lines + [""] + _notes(data.notes, width))


def _header_text(header: dict[str, str]) -> str:
    """One line per file (input, output, reference), then the rest on one line."""
    files = [f"{k}: {v}" for k, v in header.items() if k in ("input", "output", "reference")]
    rest = "   ".join(f"{k}: {v}" for k, v in header.items() if k not in ("input", "output", "reference"))
    return "\n".join([f"tdpr {__version__} report", *files, rest])


def figure_png(data: ReportData) -> bytes:
    """The whole report as PNG bytes of ``pixel_size()``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIG_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    rows = fig.subfigures(3, 1, height_ratios=[0.75, 3.0, 2.4])
    assert isinstance(rows, np.ndarray)  # three rows: an array of SubFigures
    rows[0].text(0.01, 0.5, _header_text(data.header), va="center", fontsize=9)
    named = _analyses(data)
    vmax = max(SPEC_TOP_MIN_DB, *(float(a.spec_db.max()) for a in named.values()))
    axes = rows[1].subplots(1, len(named), sharey=True)
    for ax, (name, a) in zip(axes, named.items()):
        label = "input (resampled to 16 kHz)" if name == "input" else name
        im = _spectrogram(ax, a, label, data.cutoff_hz, vmax)
    rows[1].colorbar(im, ax=list(axes), label="power (dB)", shrink=0.9)
    if data.phase is not None:
        ltas, phase, text = rows[2].subplots(1, 3, width_ratios=[1.2, 1.4, 1.0])
        _phase(phase, data)
    else:  # no phase view: the spectrum takes its place, the notes say why
        ltas, text = rows[2].subplots(1, 2, width_ratios=[2.6, 1.0])
    _ltas(ltas, data)
    text.axis("off")
    text.text(0.0, 1.0, _metrics_text(data), va="top", family="monospace", fontsize=8)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # Layout warnings name matplotlib's internals; the layout is tested instead (tests/test_report.py).
        warnings.simplefilter("ignore", UserWarning)
        fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _table(rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0}"
         "th,td{border:1px solid #ccc;padding:2px 8px;text-align:left}img{max-width:100%}")


def _img(png: bytes) -> str:
    w, h = pixel_size()
    data = base64.b64encode(png).decode()
    return f"<img alt='spectrograms, LTAS and phase view' src='data:image/png;base64,{data}' width='{w}' height='{h}'>"


def html_page(data: ReportData, png: bytes) -> str:
    """A self-contained page: header table, the figure as a data URI, metrics and notes."""
    title = f"tdpr report: {data.header.get('input', data.input.path)}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             _table(list(data.header.items())),
             _img(png)]
    if data.metrics:
        names = list(data.metrics)
        head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
        body = "".join(
            f"<tr><th>{html.escape(k)}</th>" + "".join(f"<td>{data.metrics[n].get(k, float('nan')):.4f}</td>" for n in names) + "</tr>"
            for k in data.metrics[names[0]]
        )
        parts.append(f"<h2>metrics against the reference</h2><table><tr><th></th>{head}</tr>{body}</table>")
    if data.notes:
        parts.append("<h2>notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data.notes) + "</ul>")
    return "".join(parts) + "</body></html>\n"


def index_html(rows: list[IndexRow], title: str) -> str:
    """A batch index: one table row per file, linking its report when there is one."""
    def row(r: IndexRow) -> str:
        link = f"<a href='{html.escape(quote(r.report))}'>report</a>" if r.report else "-"
        return (f"<tr><td>{html.escape(r.input)}</td><td>{html.escape(r.status)}</td>"
                f"<td>{link}</td><td>{html.escape(r.message)}</td></tr>")

    body = "".join(row(r) for r in rows)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<table><tr><th>input</th><th>status</th><th>report</th><th>message</th></tr>{body}</table>"
            "</body></html>\n")
