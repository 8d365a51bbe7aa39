"""Level head: a learned gain curve over 2-8 kHz for a TD-CNN's output, read from its input.

Why: measured on validation set v2 (docs/models.md, 2026-12-06 (6)), the SEANet TD-CNN paints
one fixed slope above the cutoff whatever the recording: its 4-5 kHz output sits 19.5-24 dB under
its 2-3 kHz band on every clip, while the references lie 8 dB (FluidR3 renders) to 28 dB
(MuseScore renders, and the real recordings of ../shared/realcheck at 17-24 dB) under it. The
input tells them apart (the 1-2 kHz band's level over the 2-3 kHz band correlates -0.92 with the
4-5 kHz level across the 40 clips), but the U-Net has not learned to use it. Matching each
clip's long-term level per 250 Hz band to the reference's (an oracle) cuts LSD by 0.10
(Butterworth, 3 kHz) to 0.30 (Chebyshev II), almost all of it on the bright renders.

So the head computes what a level decision needs, explicitly: the input's log power in
``N_FEATURES`` bands from 125 Hz to 8 kHz relative to its 125-2000 Hz power, per frame and
averaged over the active frames of a 0.8 s window around each frame (which carries both its
brightness and where its band ends),
maps it with a small MLP to a gain in log10 power units at ``GAIN_CENTRES_HZ``, interpolates
that linearly over the STFT bins (0 below 2 kHz) and applies it to the TD-CNN's output (STFT
``N_FFT``/``HOP``, Hann, then its inverse). One curve per frame: a first version averaged over
the whole segment (a chunk and its context at restore), so its output moved with the chunking
by 0.15-0.6 % of the peak (docs/models.md, 2026-12-06 (7)); the window keeps the head's reach
inside restore's context. The last layer starts at zero, so a head added to a trained model
leaves its output as it was (to float rounding of the STFT round trip).

Measured: trained alone on the frozen v3 network it cuts the validation AVG by 0.033, nearly
all on the FluidR3 renders, and makes the real recordings 0.7-1.2 dB louder at 3.5-5 kHz, which
they do not want (real check +0.006). Trained on together with the network
(``seanet-piano-16k-v4``, then the default): validation AVG 1.118 -> 1.105, real check 0.772 ->
0.768 (2026-12-06 (7)). The head alone trained again on v4's network (``seanet-piano-16k-v5``,
whose head the default v6 keeps): AVG 1.098,
real check 0.767 (2026-12-07 (9)).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from tdpr_cli.models.level_np import (
    ACTIVE_LOG10,
    FEATURE_EDGES_HZ,
    FLOOR_LOG10,
    GAIN_CENTRES_HZ,
    HEAD_GAIN,
    HIDDEN,
    HOP,
    N_FEATURES,
    N_FFT,
    REF_BAND_HZ,
    WINDOW_FRAMES,
    band_matrix,
    interp_matrix,
)


class LevelHead(nn.Module):
    """(B, 1, T) input and TD-CNN output at 16 kHz -> (B, 1, T) output with its level curve applied."""

    window: Tensor
    bands: Tensor
    ref: Tensor
    interp: Tensor

    def __init__(self) -> None:
        super().__init__()
        bins = N_FFT // 2 + 1
        self.hidden = nn.Linear(N_FEATURES, HIDDEN)
        self.out = nn.Linear(HIDDEN, len(GAIN_CENTRES_HZ) - 1)
        nn.init.zeros_(self.out.weight)  # the identity at the start: see the module docstring
        nn.init.zeros_(self.out.bias)
        # Fixed analysis tables: not parameters, and not written to weight files.
        self.register_buffer("window", torch.hann_window(N_FFT), persistent=False)
        self.register_buffer("bands", torch.from_numpy(band_matrix(FEATURE_EDGES_HZ, bins)), persistent=False)
        self.register_buffer("ref", torch.from_numpy(band_matrix(REF_BAND_HZ, bins)), persistent=False)
        self.register_buffer("interp", torch.from_numpy(interp_matrix(bins)), persistent=False)

    def _spec(self, x: Tensor) -> Tensor:
        """(B, T) float32 -> (B, bins, frames) complex STFT."""
        return torch.stft(x, N_FFT, HOP, window=self.window, center=True, return_complex=True)

    def features(self, x: Tensor) -> Tensor:
        """(B, 1, T) input -> (B, N_FEATURES, frames): each band's log10 power over the reference
        band's, per STFT frame, averaged over the active frames of a ``WINDOW_FRAMES`` window
        centred on the frame (active: within ``ACTIVE_LOG10`` of the window's loudest).

        Per-frame logs, not the log of the mean power: a band's long-term power is set by the
        loudest attacks, while the sustain, where bright and dark pianos differ most, is
        quieter. On about 190 training segments (3 kHz Butterworth; scripts/brightness_probe.py
        readable, seeds 1-3) they explained 22-35 % of the v3 model's level error over 3.5-5.5 kHz
        (34-54 % with the 2.5-3 kHz band), long-term band powers 5-24 %. A window, not the whole
        segment, so that the output does not depend on where restore's chunks fall.
        """
        power = self._spec(x[:, 0].float()).abs().square()  # (B, bins, frames)
        bands = torch.einsum("kf,bft->bkt", self.bands, power)
        ref = torch.einsum("kf,bft->bkt", self.ref, power)  # (B, 1, frames)
        log_ref = torch.log10(ref + 1e-20)
        half = WINDOW_FRAMES // 2
        loudest = F.max_pool1d(log_ref, WINDOW_FRAMES, stride=1, padding=half)  # pads with -inf
        active = (log_ref > loudest + ACTIVE_LOG10).to(power.dtype)
        ratio = torch.log10(bands + ref * 10.0**FLOOR_LOG10 + 1e-20) - log_ref

        def window_sum(v: Tensor) -> Tensor:
            return F.avg_pool1d(v, WINDOW_FRAMES, stride=1, padding=half, count_include_pad=True) * WINDOW_FRAMES

        # Every window holds its own loudest frame, so the count is at least 1.
        return window_sum(ratio * active) / window_sum(active).clamp(min=1.0)

    def mlp(self, feats: Tensor) -> Tensor:
        """(B, frames, N_FEATURES) features -> (B, frames, knots - 1) gains, log10 power units."""
        return HEAD_GAIN * self.out(F.gelu(self.hidden(feats)))

    def gains(self, x: Tensor) -> Tensor:
        """(B, 1, T) input -> (B, bins, frames) gain in log10 power units (0 under 2 kHz)."""
        g = self.mlp(self.features(x).transpose(1, 2))
        knots = torch.cat([torch.zeros_like(g[..., :1]), g], dim=-1)  # knot 0 (2 kHz) pinned at 0
        return (knots @ self.interp).transpose(1, 2)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        length, dtype = y.shape[-1], y.dtype
        # In float32 whatever the caller's autocast: fp16 would round the 1e-20 guards to 0
        # (log10(0) in silent frames) and overflow band powers above 65504.
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = self._spec(y[:, 0].float())
            scale = torch.pow(10.0, 0.5 * self.gains(x.float()))  # power gain -> amplitude, per frame
            out = torch.istft(spec * scale, N_FFT, HOP, window=self.window, center=True, length=length)
        return out[:, None].to(dtype)
