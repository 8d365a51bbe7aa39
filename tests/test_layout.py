"""The package's imports run one way: commands -> restore/report/evaluation/train -> models/weights/dsp/audio/simulate -> config/errors.

Every ``import`` and ``from ... import`` in ``src/tdpr_cli`` is read with
``ast`` (lazy imports inside functions and ``TYPE_CHECKING`` blocks count
too: they are arrows all the same). A module may import its own subpackage
and any room of a lower rank, never a room of its own rank or above, and the
module graph has no circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "src" / "tdpr_cli"

#: Rank of each room (top-level module or subpackage); imports go to lower ranks only.
RANKS: dict[str, int] = {
    "tdpr_cli": 0, "errors": 0,
    "config": 1, "digest": 1, "device": 1,
    "audio": 2, "dsp": 2,
    "weights": 3, "simulate": 3,
    "models": 4,
    "restore": 5, "corpus": 5,
    "evaluation": 6,
    "report": 7, "train": 7,
    "commands": 8,
    "cli": 9,
    "__main__": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the tdpr_cli modules ``path`` imports (``from X import m`` counts X.m if a module)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "tdpr_cli"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "tdpr_cli":
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _exists(sub) else base)
    return found - {module}


def _exists(module: str) -> bool:
    rel = Path(*module.split(".")[1:])
    return (PKG / rel).with_suffix(".py").is_file() or (PKG / rel / "__init__.py").is_file()


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PKG.rglob("*.py"))}


def test_every_room_has_a_rank() -> None:
    rooms = {_room(m) for m in _graph()}
    assert rooms <= RANKS.keys(), f"rooms without a rank: {sorted(rooms - RANKS.keys())}"


def test_imports_run_downward_only() -> None:
    upward = []
    for module, deps in _graph().items():
        for dep in deps:
            a, b = _room(module), _room(dep)
            if a != b and RANKS[b] >= RANKS[a]:
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports that do not run downward:\n" + "\n".join(sorted(upward))


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circles() -> None:
    graph = {m: {d for d in deps if not PKG.joinpath(*d.split(".")[1:], "__init__.py").is_file()}
             for m, deps in _graph().items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"a"}}, True),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
])
def test_cycle_finder_finds_circles(graph: dict[str, set[str]], expected: bool) -> None:
    assert (_find_cycle(graph) is not None) is expected


def test_import_reader_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    src = "def f():\n    from tdpr_cli.dsp import phase\n    import tdpr_cli.errors\nfrom .config import X\n"
    path = PKG / "restore" / "_probe_for_test.py"
    try:
        path.write_text(src)
        assert _imports(path) == {"tdpr_cli.dsp.phase", "tdpr_cli.errors", "tdpr_cli.restore.config"}
    finally:
        path.unlink()


def _readme_rooms() -> dict[str, list[str]]:
    """The README's layout table: room folder -> the module names (or globs) its row lists."""
    text = (PKG.parent.parent / "README.md").read_text(encoding="utf-8")
    rooms: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1].startswith("`") and cells[1].endswith("/`"):
            rooms[cells[1].strip("`/")] = [t for t in cells[2].split("`") if t.strip()]
    return rooms


def test_readme_layout_table_names_every_module_and_nothing_else() -> None:
    rooms = _readme_rooms()
    packages = sorted(p.parent.name for p in PKG.glob("*/__init__.py"))
    assert sorted(rooms) == packages
    text = (PKG.parent.parent / "README.md").read_text(encoding="utf-8")
    top = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `") and ".py`" in line.split("|")[1]]
    named = {name for cell in top for name in cell.replace(",", " ").replace("`", " ").split()}
    modules = {p.name for p in PKG.glob("*.py") if p.name != "__init__.py"}
    assert modules == named, f"top-level modules and the table's first column differ: {sorted(modules ^ named)}"
    for room, names in rooms.items():
        folder = PKG / room
        modules = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        listed = {m for name in names for m in modules if Path(m).match(name)}
        assert modules == listed, f"{room}/: not in the README's table: {sorted(modules - listed)}"
        for name in names:  # nothing stale: each entry names a module or a folder there
            assert any(Path(m).match(name) for m in modules) or (folder / name.rstrip("/")).is_dir(), f"{room}/{name}"
