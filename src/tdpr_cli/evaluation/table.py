"""The paper's Table 1 protocol (§4.3) on the fixed validation set: ``tdpr eval table``.

Every low-resolution (LR) file of the set (``tdpr_cli.evaluation.valset``) is restored
by each system of ``ROWS`` and scored against its reference with
``evaluate.score`` at the LR file's known cutoff. The systems:

- ``input``: the LR file itself;
- ``noise-fill``: ``evaluate.noise_fill``, the trivial DSP baseline any model
  must beat clearly;
- ``tdcnn``: the TD-CNN alone, chunked and with the input's intact band kept,
  exactly as ``tdpr restore --phase none``;
- ``tdcnn-raw``: the same TD-CNN output with nothing kept (the network alone);
- ``tdpr-paper`` / ``tdpr-band``: TD-PR with full-band / above-cutoff phase
  replacement (``tdpr restore --phase paper|band``, default settings; band
  mode keeps the intact band, paper mode does not);
- ``tdcnn-gt-phase``: the oracle of paper §4.2, the TD-CNN magnitude with
  the reference's phase in every bin.

The TD-CNN runs once per LR file; the vocoder (on ``LogMel`` of that TD-CNN
output, as in the pipeline) and the phase replacements are derived from the
same output. Unlike ``tdpr restore`` they act on the whole clip rather than
per chunk: on 10 s clips with 1 s of chunk context the difference is small,
and it keeps the three rows comparable sample for sample.

Results are aggregated per cutoff (mean over clips and the paper's seven
kinds), averaged over cutoffs (AVG); the soft family (``simulate.degrade``) is
aggregated the same way on its own, as the soft-filter row. The spread
across filter kinds is max - min of the paper kinds' means at one cutoff. ``table_report`` renders them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from tdpr_cli.config import SAMPLE_RATE, PhaseMode
from tdpr_cli.errors import UsageError
from tdpr_cli.evaluation.metrics import BIAS_BAND_HZ, bias_key

if TYPE_CHECKING:  # torch is imported only when model rows run
    import torch
    from torch import nn

    from tdpr_cli.evaluation.valset_index import ValsetIndex, ValsetItem

RESULT_VERSION = 2  # 2: low_keep over the input's intact band (simulate.response)
#: Metrics of ``evaluate.score`` that the table aggregates, in report order.
# bias_2.5k .. bias_7.5k: the bands above the lowest cutoff of the set
BIAS_METRICS: tuple[str, ...] = tuple(bias_key(lo) for lo in np.arange(2500.0, SAMPLE_RATE / 2, BIAS_BAND_HZ))
METRICS: tuple[str, ...] = (
    "lsd", "lsd_2048", "lsd_high", "snr", "phase_cos_high", "phase_ifd_high", "phase_cos_low", "phase_ifd_low",
    "low_keep", "comb", *BIAS_METRICS,
)
#: The input's intact band for ``low_keep``: 50 Hz up to this far below the cutoff, or up to
#: where the filter itself takes away more than 1 dB when that is lower (cheby2, bessel, soft).
LOW_KEEP_MARGIN_HZ = 500.0


def low_keep_top_hz(item: ValsetItem) -> float:
    """Upper edge (Hz) of the band where ``item``'s input is intact: the ``low_keep`` band's top.

    Below it any difference between output and input is damage; above it the
    input is already attenuated and a model is right to change it.
    """
    from tdpr_cli.simulate.response import intact_edge_hz

    edge = intact_edge_hz(item.kind, SAMPLE_RATE, item.cutoff_hz, item.order)
    return min(item.cutoff_hz - LOW_KEEP_MARGIN_HZ, edge)


class ModelRunner:
    """TD-CNN, vocoder and phase repair with the pipeline's settings; numpy (C, T) at 16 kHz in and out."""

    def __init__(self, tdcnn: nn.Module, vocoder: nn.Module | None, device: str | torch.device = "cpu") -> None:
        from tdpr_cli.config import RestoreConfig
        from tdpr_cli.restore.pipeline import Restorer

        # phase none, nothing kept: the Restorer runs (and chunks) only the TD-CNN; the
        # rows are derived from its raw output below, with the pipeline's STFT and settings.
        self.cfg = RestoreConfig(phase=PhaseMode.NONE)
        raw = dataclasses.replace(self.cfg, keep_margin_hz=None)
        self.restorer = Restorer(tdcnn, vocoder, raw, device)

    def _tensor(self, x: np.ndarray):
        import torch

        return torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.restorer.device)

    def tdcnn(self, lr: np.ndarray, cutoff_hz: float) -> np.ndarray:
        """Raw chunked TD-CNN output (``keep`` of it is ``tdpr restore --phase none``)."""
        return self.restorer.restore(lr, cutoff_hz)

    def keep(self, lr: np.ndarray, est: np.ndarray, mode: PhaseMode, cutoff_hz: float) -> np.ndarray:
        """``est`` with the input's intact band put back, as the pipeline does in ``mode``."""
        import torch

        from tdpr_cli.dsp.phase import keep_input_band

        cfg = dataclasses.replace(self.cfg, phase=mode)
        with torch.inference_mode():
            out = keep_input_band(self._tensor(lr), self._tensor(est), cutoff_hz, cfg, self.restorer.stft)
        return out.cpu().numpy()

    def vocode(self, y: np.ndarray) -> np.ndarray:
        """The vocoder's resynthesis of ``LogMel(y)``, as ``Restorer.process`` computes it."""
        import torch

        r = self.restorer
        if r.vocoder is None:
            raise UsageError("the TD-PR rows need a vocoder")
        with torch.inference_mode():
            return r.vocoder(r.logmel(self._tensor(y)), y.shape[-1]).float().cpu().numpy()

    def repair(self, y: np.ndarray, v: np.ndarray, mode: PhaseMode, cutoff_hz: float) -> np.ndarray:
        """``phase.repair`` of TD-CNN output ``y`` with vocoder output ``v`` in ``mode``."""
        import torch

        from tdpr_cli.dsp.phase import repair

        r = self.restorer
        with torch.inference_mode():
            out = repair(self._tensor(y), self._tensor(v), cutoff_hz, dataclasses.replace(self.cfg, phase=mode), r.stft)
        return out.cpu().numpy()

    def oracle(self, y: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """TD-CNN magnitude with the reference phase in every bin (paper §4.2)."""
        import torch

        from tdpr_cli.dsp.phase import replace_phase

        r = self.restorer
        with torch.inference_mode():
            out = replace_phase(self._tensor(y), self._tensor(ref), r.cfg.stft, cutoff_hz=None, stft=r.stft)
        return out.cpu().numpy()


class ItemContext:
    """One LR file with its reference; the TD-CNN and vocoder outputs are computed once, on demand."""

    def __init__(self, item: ValsetItem, lr: np.ndarray, ref: np.ndarray, seed: int, runner: ModelRunner | None):
        self.item, self.lr, self.ref, self.seed, self.runner = item, lr, ref, seed, runner

    def _models(self) -> ModelRunner:
        if self.runner is None:
            raise UsageError("this row needs models; none were loaded")
        return self.runner

    @cached_property
    def tdcnn(self) -> np.ndarray:
        return self._models().tdcnn(self.lr, self.item.cutoff_hz)

    @cached_property
    def vocoded(self) -> np.ndarray:
        return self._models().vocode(self.tdcnn)


def _noise_fill(ctx: ItemContext) -> np.ndarray:
    from tdpr_cli.evaluation.metrics import noise_fill

    return noise_fill(ctx.lr, SAMPLE_RATE, ctx.item.cutoff_hz, ctx.seed)


def _tdpr(mode: PhaseMode) -> Callable[[ItemContext], np.ndarray]:
    """The pipeline's output in ``mode``: repaired, then the intact band kept (band mode)."""

    def estimate(ctx: ItemContext) -> np.ndarray:
        runner, cutoff = ctx._models(), ctx.item.cutoff_hz
        return runner.keep(ctx.lr, runner.repair(ctx.tdcnn, ctx.vocoded, mode, cutoff), mode, cutoff)

    return estimate


def _tdcnn(ctx: ItemContext) -> np.ndarray:
    """``tdpr restore --phase none``: the TD-CNN output with the intact band kept."""
    return ctx._models().keep(ctx.lr, ctx.tdcnn, PhaseMode.NONE, ctx.item.cutoff_hz)


@dataclass(frozen=True)
class Row:
    """A system of the table: display label, how to get its estimate, whether it needs models."""

    label: str
    estimate: Callable[[ItemContext], np.ndarray]
    needs_models: bool


#: The table's systems in display order (keys are what ``--rows`` accepts).
ROWS: dict[str, Row] = {
    "input": Row("input", lambda ctx: ctx.lr, False),
    "noise-fill": Row("noise-fill", _noise_fill, False),
    "tdcnn": Row("TD-CNN", _tdcnn, True),
    "tdcnn-raw": Row("TD-CNN, nothing kept", lambda ctx: ctx.tdcnn, True),
    "tdpr-paper": Row("TD-PR paper", _tdpr(PhaseMode.PAPER), True),
    "tdpr-band": Row("TD-PR band", _tdpr(PhaseMode.BAND), True),
    "tdcnn-gt-phase": Row("TD-CNN + GT phase", lambda ctx: ctx._models().oracle(ctx.tdcnn, ctx.ref), True),
}


def parse_rows(spec: str | None) -> list[str]:
    """Row keys from ``--rows a,b`` (None: all), in display order."""
    if spec is None:
        return list(ROWS)
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [w for w in wanted if w not in ROWS]
    if unknown or not wanted:
        raise UsageError(f"--rows: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(ROWS)}")
    return [key for key in ROWS if key in wanted]


def _mean(values: Sequence[float | None]) -> float | None:
    """Mean of the finite values; None if there are none (JSON-safe)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else None


def _aggregate(records: list[dict], metric: str, cutoffs: list[str], kinds: list[str]) -> dict[str, Any]:
    """Per-cutoff means over the paper's kinds and their average (the Table 1 figures),
    the same over the soft kinds (``soft_by_cutoff``, ``soft_avg``), per-(cutoff, kind)
    means and the spread across the paper's kinds."""
    from tdpr_cli.simulate.degrade import SOFT_KINDS

    by_kind = {
        c: {k: _mean([r["metrics"].get(metric) for r in records if r["cutoff"] == c and r["kind"] == k]) for k in kinds}
        for c in cutoffs
    }

    def family_means(soft: bool) -> dict[str, float | None]:
        return {c: _mean([r["metrics"].get(metric) for r in records
                          if r["cutoff"] == c and (r["kind"] in SOFT_KINDS) == soft]) for c in cutoffs}

    by_cutoff, soft = family_means(False), family_means(True)
    spread = {}
    for c in cutoffs:
        means = [m for k, m in by_kind[c].items() if m is not None and k not in SOFT_KINDS]
        spread[c] = max(means) - min(means) if means else None
    return {"by_cutoff": by_cutoff, "avg": _mean(list(by_cutoff.values())), "soft_by_cutoff": soft,
            "soft_avg": _mean(list(soft.values())), "by_kind": by_kind, "spread": spread}


def summarize(records: list[dict], rows: list[str], cutoffs: list[str], kinds: list[str]) -> dict[str, Any]:
    """{row: {metric: aggregate}} over the per-file ``records``."""
    return {
        row: {m: _aggregate([r for r in records if r["row"] == row], m, cutoffs, kinds) for m in METRICS}
        for row in rows
    }


def run(
    index: ValsetIndex,
    rows: list[str],
    runner: ModelRunner | None = None,
    seed: int = 0,
    on_item: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Score every row on every LR file of ``index``; return the JSON-able result."""
    from tdpr_cli.digest import derive_seed
    from tdpr_cli.evaluation.files import json_safe, load_16k
    from tdpr_cli.evaluation.metrics import Spectra, band_log_rms, score

    if runner is None and any(ROWS[r].needs_models for r in rows):
        raise UsageError("rows " + ", ".join(r for r in rows if ROWS[r].needs_models) + " need models")
    records: list[dict] = []
    spent: dict[str, Any] = {"estimate_s": dict.fromkeys(rows, 0.0), "score_s": 0.0}
    started, ref_path = time.perf_counter(), None
    for i, item in enumerate(index.items):
        if item.ref != ref_path:  # items come clip by clip: each reference serves cutoffs x kinds files
            ref_path, raw = item.ref, load_16k(item.ref)
            ref = Spectra(raw)  # its STFTs (~16 MB) are computed once for all of them
        noise_seed = derive_seed(seed, "noise-fill", item.clip, item.cutoff, item.kind)
        ctx = ItemContext(item, load_16k(item.path), raw, noise_seed, runner)
        for row in rows:
            t0 = time.perf_counter()
            est = ROWS[row].estimate(ctx)
            t1 = time.perf_counter()
            metrics = score(est, ref, item.cutoff_hz)
            # How far the output strays from the input where the input is still intact.
            metrics["low_keep"] = band_log_rms(est, ctx.lr, (50.0, low_keep_top_hz(item)))
            spent["score_s"] += time.perf_counter() - t1
            spent["estimate_s"][row] += t1 - t0
            records.append({"clip": item.clip, "cutoff": item.cutoff, "kind": item.kind, "order": item.order,
                            "row": row, "metrics": json_safe(metrics)})
        if on_item is not None:
            on_item(i + 1, len(index.items))
    return {
        "version": RESULT_VERSION,
        "valset": index.describe(),
        "seed": seed,
        "rows": rows,
        "labels": {r: ROWS[r].label for r in rows},
        "cutoffs": index.cutoffs,
        "kinds": index.kinds,
        "summary": summarize(records, rows, index.cutoffs, index.kinds),
        "records": records,
        "timing": {**spent, "total_s": time.perf_counter() - started, "files": len(index.items)},
    }
