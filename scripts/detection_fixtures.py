"""Write the bandwidth-detection regression fixtures (tests/detection/).

Synthetic piano-like music (notes of decaying, slightly inharmonic partials,
a straight natural roll-off of -9 dB per octave, as the real check set's
references show below their own knee: -8 to -13 dB/oct), then a low-pass
from ``tdpr_cli.simulate.degrade`` and shaped hiss (white noise through a
first-order tilt, +3.5 dB per octave towards 8 kHz) at a level relative to
the music's RMS. Each fixture is 4 s of 16 kHz mono PCM_16 FLAC; fixtures.json
states what it is and the true -3 dB point of its filter (measured from the
filter's own response). Run from the repository root:

    python scripts/detection_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from tdpr_cli.simulate import response
from tdpr_cli.simulate.degrade import degrade

OUT = Path("tests/detection")
SR = 16000
SECONDS = 4.0
TILT_DB_PER_OCTAVE = -9.0

#: (name, filter kind or None, cutoff Hz, order, hiss dB re music RMS or None)
CASES = [
    ("wideband", None, None, None, None),
    ("wideband-hiss50", None, None, None, -50.0),
    ("silence", "silence", None, None, None),
    ("butterworth8-3000", "butterworth", 3000.0, 8, None),
    ("ellip8-2500-hiss50", "ellip", 2500.0, 8, -50.0),
    ("cheby1-6-4000-hiss40", "cheby1", 4000.0, 6, -40.0),
    ("soft-butterworth2-2500-hiss60", "soft-butterworth", 2500.0, 2, -60.0),
    ("soft-butterworth3-3000-hiss40", "soft-butterworth", 3000.0, 3, -40.0),
    ("soft-butterworth5-3500-hiss50", "soft-butterworth", 3500.0, 5, -50.0),
    ("soft-butterworth4-4500-hiss60", "soft-butterworth", 4500.0, 4, -60.0),
    ("soft-bessel2-3000-hiss50", "soft-bessel", 3000.0, 2, -50.0),
    ("soft-bessel3-2500-hiss40", "soft-bessel", 2500.0, 3, -40.0),
    ("soft-bessel5-4000-hiss60", "soft-bessel", 4000.0, 5, -60.0),
    ("soft-bessel4-3500", "soft-bessel", 3500.0, 4, None),
]


def piano_like(seconds: float, seed: int) -> np.ndarray:
    """Random chords of decaying partials up to 7.95 kHz, peak 0.5; (T,) float64 at 16 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    x, t = np.zeros(n), np.arange(n) / SR
    onset = 0.0
    while onset < seconds - 0.3:
        start = int(onset * SR)
        for _ in range(int(rng.integers(1, 4))):
            f0 = 440.0 * 2.0 ** ((int(rng.integers(36, 90)) - 69) / 12)
            k = np.arange(1, int(7900 / f0) + 1)
            fk = f0 * k * np.sqrt(1 + 1e-4 * k**2)  # piano-string inharmonicity
            fk = fk[fk < 7950]
            amp = 10.0 ** (TILT_DB_PER_OCTAVE * np.log2(fk / 200.0) / 20)
            tt = t[: n - start, None]
            note = amp * np.exp(-(1.0 + fk / 1500.0) * tt) * np.sin(2 * np.pi * fk * tt + rng.uniform(0, 6.3, len(fk)))
            x[start:] += note.sum(axis=1) * rng.uniform(0.3, 1.0)
        onset += float(rng.uniform(0.15, 0.6))
    return 0.5 * x / np.abs(x).max()


def hiss(n: int, seed: int) -> np.ndarray:
    """Unit-RMS white noise tilted up towards 8 kHz (first difference, 0.5): surface-noise-like."""
    w = signal.lfilter([1.0, -0.5], [1.0], np.random.default_rng(seed).standard_normal(n))
    return w / np.sqrt(np.mean(w**2))


def minus3_hz(kind: str, cutoff: float, order: int) -> float:
    """Where the degradation first falls 3 dB, Hz (``simulate.response.minus3_hz``: the response
    as applied, squared for the paper's forward-backward kinds; cheby2 and bessel differ from Wn)."""
    return response.minus3_hz(kind, SR, cutoff, order)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    music = piano_like(SECONDS, seed=0)
    table = []
    for i, (name, kind, cutoff, order, hiss_db) in enumerate(CASES):
        entry: dict[str, object] = {"file": f"{name}.flac", "kind": kind, "order": order, "hiss_db": hiss_db}
        if kind == "silence":
            y = np.zeros_like(music)
        elif kind is None:
            y = music.copy()
        else:
            assert cutoff is not None and order is not None
            y = degrade(music, SR, cutoff, kind, order)
            entry |= {"cutoff_hz": cutoff, "minus3_hz": round(minus3_hz(kind, cutoff, order), 1)}
        if hiss_db is not None:
            y = y + hiss(len(y), seed=100 + i) * np.sqrt(np.mean(y**2)) * 10.0 ** (hiss_db / 20)
        sf.write(OUT / entry["file"], y, SR, subtype="PCM_16")  # type: ignore[arg-type]
        table.append(entry)
    (OUT / "fixtures.json").write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {len(table)} fixtures to {OUT}")


if __name__ == "__main__":
    main()
