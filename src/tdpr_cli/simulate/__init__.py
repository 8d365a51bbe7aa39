"""The band-limiting simulation: the paper's filters and the soft family."""
