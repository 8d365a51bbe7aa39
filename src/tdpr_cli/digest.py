"""Stable digests: the one sha256 of a file, and seeds derived from a hash of keys.

Both are pure functions of their inputs, the same on every machine and in
every process, which is what weights verification, manifests and
reproducible data splits need.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so memory stays flat."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes already in memory (a manifest read once, so that its digest names
    exactly the bytes parsed)."""
    return hashlib.sha256(data).hexdigest()


def derive_seed(seed: int, *keys: object) -> int:
    """A 64-bit seed from the run seed and any keys, independent of call order or process."""
    text = "\x1f".join(str(k) for k in (seed, *keys))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
