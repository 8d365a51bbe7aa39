"""Whether a file is restored, at which cutoff, and why: the bandwidth rule.

No torch here: a file that passes through (already wideband, or silent) is decided, and
copied, without importing the models' framework.
"""

from __future__ import annotations

from dataclasses import dataclass

from tdpr_cli.config import RestoreConfig
from tdpr_cli.dsp.bandwidth import Bandwidth, describe


@dataclass(frozen=True)
class Decision:
    """Whether to run the models, at which cutoff (used and detected, Hz), and why (for the log).

    ``detection`` is the detector's full result (slope end and confidence), for the record.
    """

    process: bool
    cutoff_hz: float
    reason: str
    warning: str | None = None
    detected_hz: float | None = None
    detection: Bandwidth | None = None
    refusal: str | None = None  # why the file must not be restored as asked (an error, exit 2)

    @property
    def slope_top_hz(self) -> float | None:
        """Where the detected roll-off reaches the noise floor (Hz), for band mode's crossfade;
        None when the cutoff is the user's (``--cutoff``: the detection is not trusted then)."""
        if self.detection is None or self.detected_hz != self.cutoff_hz or self.detection.wideband:
            return None
        return self.detection.top_hz


def decide(bw: Bandwidth, cfg: RestoreConfig, low_hz: float = 2500.0, high_hz: float = 4500.0) -> Decision:
    """Apply the bandwidth rule: wideband or silent input passes through.

    A cutoff given by the user (``cfg.cutoff_hz``) replaces the detected one
    and always processes the file, as long as it is not silent. ``cfg.force``
    forbids the wideband pass-through: such a file is refused (``refusal``),
    since there is no band edge to restore from, and the user is asked for one.
    """
    if bw.silent:
        return Decision(False, bw.cutoff_hz, "input is silent; passed through", detected_hz=bw.cutoff_hz, detection=bw)
    if cfg.cutoff_hz is not None:
        warning = None
        if not low_hz <= cfg.cutoff_hz <= high_hz:
            warning = f"--cutoff {cfg.cutoff_hz:.0f} Hz is outside the {low_hz:.0f}-{high_hz:.0f} Hz range tdpr was trained for"
        reason = f"cutoff {cfg.cutoff_hz:.0f} Hz from --cutoff (detected {bw.cutoff_hz:.0f} Hz)"
        return Decision(True, cfg.cutoff_hz, reason, warning, bw.cutoff_hz, bw)
    if bw.wideband and cfg.force:
        # Detection found music up to the top: there is no band edge to restore from.
        refusal = (f"detection found music up to {bw.top_hz:.0f} Hz, so --force has no band limit "
                   "to start from; give the input's real cutoff with --cutoff HZ")
        return Decision(False, bw.cutoff_hz, refusal, detected_hz=bw.cutoff_hz, detection=bw, refusal=refusal)
    if bw.wideband:
        return Decision(False, bw.cutoff_hz, f"input is already wideband: {describe(bw)}; passed through "
                        "(use --cutoff HZ if the detection is wrong)", detected_hz=bw.cutoff_hz, detection=bw)
    warning = None
    if not low_hz <= bw.cutoff_hz <= high_hz:
        warning = f"detected bandwidth {bw.cutoff_hz:.0f} Hz is outside the {low_hz:.0f}-{high_hz:.0f} Hz range tdpr was trained for"
    return Decision(True, bw.cutoff_hz, f"detected bandwidth {bw.cutoff_hz:.0f} Hz: {describe(bw)}", warning,
                    bw.cutoff_hz, bw)
