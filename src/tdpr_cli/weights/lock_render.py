"""TOML text of ``weights.lock`` entries, the inverse of ``lockfile``'s parser.

Kept apart from the parser so each module stays small. The text is rendered
in a stable order, so regenerating a lock gives no noise in a diff.
"""

from __future__ import annotations

import json

from tdpr_cli.weights.lock import HEADER, LOCK_VERSION, BundledSource, ModelEntry


def render_entry(entry: ModelEntry) -> str:
    """TOML text of one ``[[model]]`` entry (JSON string quoting is valid TOML)."""
    q = json.dumps
    src = entry.source
    if isinstance(src, BundledSource):
        source = f"{{ type = \"bundled\", path = {q(src.path)} }}"
    else:
        source = f"{{ type = \"hf\", repo_id = {q(src.repo_id)}, revision = {q(src.revision)} }}"
    lines = [
        "[[model]]",
        f"name = {q(entry.name)}",
        f"kind = {q(entry.kind)}",
        f"config_sha256 = {q(entry.config_sha256)}",
        f"source = {source}",
    ]
    for f in entry.files:
        lines += ["", "[[model.file]]", f"filename = {q(f.filename)}"]
        lines += [f"sha256 = {q(f.sha256)}", f"size = {f.size}"]
    return "\n".join(lines) + "\n"


def render_lock(models: list[ModelEntry], defaults: dict[str, str], header: str = HEADER) -> str:
    """The whole lock text, in a stable order so regenerating it gives no noise."""
    parts = [header + f"version = {LOCK_VERSION}\n"]
    if defaults:
        rows = "".join(f"{kind} = {json.dumps(defaults[kind])}\n" for kind in sorted(defaults))
        parts.append("[defaults]\n" + rows)
    parts += [render_entry(m) for m in models]
    return "\n".join(parts)
