"""Metrics, baselines, the validation set and the paper's table protocol."""
