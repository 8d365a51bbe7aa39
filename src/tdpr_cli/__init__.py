"""tdpr: restore band-limited music to a 16 kHz, 8 kHz-bandwidth signal.

Importing this package is cheap: no torch, no numpy. Heavy modules are
imported by the commands that need them, so ``tdpr --help`` stays instant.
"""

__version__ = "0.1.0"
