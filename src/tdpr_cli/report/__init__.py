"""Spectrogram reports of a restored file; matplotlib stays inside."""
