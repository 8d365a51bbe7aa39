#!/usr/bin/env bash
# Install everything `tdpr data render` needs to build the piano training corpus.
#
# Idempotent: apt-get and pip skip what is already installed, so re-running is cheap.
# Needs root for apt-get (run as root, or with sudo). Only the Debian archive and PyPI
# are contacted.
#
#   fluidsynth                            the CLI synthesiser used to render MIDI to WAV
#   musescore-general-soundfont-lossless  MuseScore General (.sf2), the most realistic piano
#   fluid-soundfont-gm                    FluidR3_GM.sf2, a second, brighter piano
#   timgm6mb-soundfont                    TimGM6mb.sf2, a small, lo-fi piano for variety
#   music21, mido (the `train` extra)     the score corpus and MIDI reading/writing
#
# Usage: scripts/data-setup.sh            (or: tdpr data setup)
set -euo pipefail

APT_PACKAGES=(fluidsynth musescore-general-soundfont-lossless fluid-soundfont-gm timgm6mb-soundfont)
PIP_PACKAGES=("music21>=9" "mido>=1.3")

if [[ "$(id -u)" -ne 0 ]] && command -v sudo >/dev/null; then SUDO=sudo; else SUDO=""; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "${missing[@]}"
else
    echo "apt packages already installed: ${APT_PACKAGES[*]}"
fi

"${PYTHON:-python3}" -m pip install "${PIP_PACKAGES[@]}"

# Show where the sound fonts landed; tdpr_cli.corpus.render looks in these folders.
for pkg in musescore-general-soundfont-lossless fluid-soundfont-gm timgm6mb-soundfont; do
    dpkg -L "$pkg" | grep -Ei '\.sf[23]$' || true
done
