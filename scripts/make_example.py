"""Make examples/handel-lascia-3k.flac, the README's bundled example (deterministic).

Source: a held-out (test-split) clip of the rendered corpus: Handel, "Lascia
ch'io pianga" (music21 corpus, public domain) played on the MuseScore General
Steinway samples. The first 10 s are resampled to 44.1 kHz (as an archive
transfer would be) and low-passed at 3 kHz with an order-8 elliptic filter by
tdpr's own simulation, then written as 16-bit FLAC.

    python scripts/make_example.py data/test/m21-handel-rinaldo-Lascia-chio-pianga-mxl__musescore__0_0.flac
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from tdpr_cli.simulate.degrade import degrade

OUT = Path(__file__).resolve().parents[1] / "examples" / "handel-lascia-3k.flac"


def main(src: str) -> None:
    x, sr = sf.read(src, dtype="float64", always_2d=True)
    x = x[: 10 * sr, 0]
    x = resample_poly(x, 441, 160) if sr == 16000 else x
    y = degrade(x, 44100, 3000.0, "ellip", 8)
    y = 0.5 * y / np.abs(y).max()
    sf.write(OUT, y.astype(np.float32), 44100, subtype="PCM_16")
    print(OUT, sf.info(OUT).duration, file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
