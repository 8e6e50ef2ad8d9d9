"""The package's shape: public names, layers that import only downwards, no import cycle.

Every import in every module counts, including those inside functions (a lazy
import is still a dependency). Subpackages are ranked; a module may import its
own subpackage and strictly lower ranks, never a sibling of the same rank or
anything above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import opik_store

PACKAGE = Path(opik_store.__file__).resolve().parent

#: Rank of each top-level part of the package (a module or a subpackage).
RANKS: dict[str, int] = {
    "errors": 0,
    "resources": 1,
    "engine": 1,
    "config": 2,
    "schema": 3,
    "migrations": 4,
    "access": 4,
    "maintenance": 4,
    "ingest": 5,  # the batch writer: reads the ingest profile (access), built by store
    "reads": 5,  # profile-aware reads: the profile of each purpose (access), built by store
    "health": 5,  # the health checks and their Prometheus form: read system tables (engine, maintenance)
    "tables": 5,  # SQLAlchemy Table objects from ddl/ (schema.columns); imported by backend code only
    "adopt": 5,  # adoption of Opik-made tables: relayout and the runner's stamp (migrations), ddl (schema)
    "store": 6,
    "__init__": 7,  # the public face: re-exports Store, QueryProfiles and the errors
    "scheduling": 7,
    "cli": 8,
}

PUBLIC = {
    "ConfigError",
    "DataLossError",
    "OpikStoreError",
    "QueryProfiles",
    "RenderError",
    "RevisionError",
    "ServerError",
    "Store",
    "StoreConfig",
    "Topology",
    "UnsupportedServerError",
    "__version__",
}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        if rel.parts[0] == "_data":  # ddl/ and migrations/ shipped inside a wheel: data, not code
            continue
        parts = ["opik_store", *rel.parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """opik_store modules imported anywhere in ``path`` (``from a import b`` counts b when b is a module)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("opik_store"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("opik_store"):
            assert node.level == 0, f"{path}: relative import; use absolute opik_store imports"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in modules else node.module)
    return out


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_public_names_are_pinned() -> None:
    assert set(opik_store.__all__) == PUBLIC
    for name in PUBLIC:
        assert hasattr(opik_store, name), name


def test_every_part_has_a_rank_and_every_subpackage_says_what_it_owns() -> None:
    modules = _modules()
    parts = {_part(m) for m in modules}
    assert parts == set(RANKS), f"unranked parts: {parts - set(RANKS)}; ranked but missing: {set(RANKS) - parts}"
    for name in modules:
        if name.count(".") == 1 and (PACKAGE / name.split(".")[1]).is_dir():
            doc = ast.get_docstring(ast.parse((PACKAGE / name.split(".")[1] / "__init__.py").read_text()))
            assert doc and "May import" in doc, f"{name}/__init__.py must say what it owns and may import"


def _violations(modules: dict[str, Path]) -> list[str]:
    bad: list[str] = []
    for name, path in modules.items():
        mine = _part(name)
        for target in _imports(path, modules):
            theirs = _part(target)
            if theirs != mine and RANKS[theirs] >= RANKS[mine]:
                bad.append(f"{name} (rank {RANKS[mine]}) imports {target} (rank {RANKS[theirs]})")
    return bad


def test_no_module_imports_upward_or_sideways() -> None:
    bad = _violations(_modules())
    assert not bad, "\n".join(bad)


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path, modules) & set(modules) for name, path in modules.items()}
    # A package's __init__ importing its own submodules is how a package exposes them: not a cycle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_check_catches_a_planted_violation(tmp_path: Path) -> None:
    """Not vacuous: a maintenance module importing the CLI, and one importing a sibling concern, are both reported."""
    planted = tmp_path / "bad.py"
    planted.write_text(
        "def f() -> None:\n    from opik_store.cli.common import Options\n    import opik_store.access.model\n"
    )
    modules = {**_modules(), "opik_store.maintenance.bad": planted}
    bad = [v for v in _violations(modules) if v.startswith("opik_store.maintenance.bad")]
    assert len(bad) == 2, bad
