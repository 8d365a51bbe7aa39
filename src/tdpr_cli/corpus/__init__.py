"""The training corpus: MIDI sources, FluidSynth rendering, augmentation, its manifest."""
