"""Export the ONNX graph of every architecture in the lock (the torch-free runtime's graphs).

Run after pinning a model with a new architecture; the test suite fails while a lock model
that the runtime could serve has no graph. Needs torch and ``pip install onnx``.

    python scripts/export_graphs.py

Writes ``src/tdpr_cli/models/graphs/<graph sha256[:16]>.onnx`` and rewrites ``index.json``
(per lock architecture, by config sha256: file, sha256, kind, initializers, state-dict keys,
facts).
"""

from __future__ import annotations

import json

from tdpr_cli.audio.atomic import atomic_write_bytes, atomic_write_text
from tdpr_cli.digest import sha256_bytes
from tdpr_cli.errors import UsageError
from tdpr_cli.models.graph import GRAPH_DIR, INDEX
from tdpr_cli.models.graph_export import export_graph
from tdpr_cli.models.load import build, read_config
from tdpr_cli.weights import resolve as W


def main() -> None:
    lock = W.load_lock()
    index: dict[str, dict[str, object]] = {}
    GRAPH_DIR.mkdir(exist_ok=True)
    for entry in lock.models.values():
        if entry.config_sha256 in index:
            continue
        found = W.resolve(lock, entry.name, entry.kind, offline=True)
        model = build(read_config(found.config_path)).eval()
        try:
            data, info = export_graph(model)
        except UsageError as exc:
            print(f"{entry.name}: {exc}")
            continue
        digest = sha256_bytes(data)
        name = f"{digest[:16]}.onnx"  # by content: configs that differ only in spelled-out defaults share one
        atomic_write_bytes(GRAPH_DIR / name, data)
        index[entry.config_sha256] = {"file": name, "sha256": digest, **info}
        print(f"{entry.name}: {name} ({len(data)} bytes, {len(info['initializers'])} external initializers)")
    for stale in GRAPH_DIR.glob("*.onnx"):
        if stale.name not in {str(v["file"]) for v in index.values()}:
            stale.unlink()
    atomic_write_text(INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
