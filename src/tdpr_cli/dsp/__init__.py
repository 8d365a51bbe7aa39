"""Signal processing without learned weights: STFT/mel, chunking, bandwidth detection, phase repair."""
