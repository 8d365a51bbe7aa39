"""Model definitions: TD-CNN generators and the mel vocoder.

Each model stores its sample rate in a buffer so the rate travels with the
weights, and each exposes ``config`` (a plain dict) so an exported model can be
rebuilt from its JSON without pickles.
"""
