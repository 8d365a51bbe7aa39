"""Training-side code: the low-resolution simulation, data, losses and the loop."""
