"""Audio in and out: libsndfile reading and writing, the one resampler, atomic writes."""
