"""The weights trust chain: weights.lock, sha256 verification, the Hub, pinning; bundled/ holds the shipped files."""
