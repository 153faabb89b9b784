"""The layout is the architecture: these rules keep it so (issue 11).

- the domain is plain Python: nothing but the standard library and itself;
- the service layer knows ports, not technologies: no SQL, Kafka, XML or codec imports;
- entry points (consumers/) and producers never reach into the store;
- only the composition root (gateway/app.py) wires consumers and producers in;
- the command-line tools (gateway/tools) are used by the CLI only;
- no import loops between modules, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "consumers", "producers", "console")
COMPOSITION_ROOT = "gateway.app"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for package in PACKAGES
        if (ROOT / package).is_dir()
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    }


MODULES = _modules()


def _imports(module: str) -> Iterator[str]:
    """Every module `module` imports, at any depth of its code (TYPE_CHECKING included)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:  # `from gateway.store import sql` imports a module
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}"


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _violations(modules_under: str, forbidden: list[str] | None = None) -> list[str]:
    found = []
    for module in MODULES:
        if not _within(module, modules_under):
            continue
        for imported in _imports(module):
            if forbidden is None:  # only the standard library and the package itself
                top = imported.split(".")[0]
                bad = top not in sys.stdlib_module_names and not _within(imported, modules_under)
            else:
                bad = any(_within(imported, f) for f in forbidden)
            if bad:
                found.append(f"{module} imports {imported}")
    return found


def test_the_rules_see_the_code() -> None:
    assert {"gateway.app", "gateway.domain.letters", "gateway.services.ports"} <= set(MODULES)
    assert "gateway.services.ports" in set(_imports("gateway.services.ingestion"))


def test_the_domain_is_plain_python() -> None:
    assert _violations("gateway.domain") == []


def test_the_service_layer_knows_ports_not_technologies() -> None:
    technologies = ["sqlalchemy", "aiokafka", "faststream", "lxml", "xmlschema", "asyncpg"]
    adapters = ["gateway.xmlcodec", "gateway.store", "consumers", "producers", "console"]
    assert _violations("gateway.services", technologies + adapters) == []


@pytest.mark.parametrize("edge", ["consumers", "producers"])
def test_entry_points_and_producers_never_reach_into_the_store(edge: str) -> None:
    assert _violations(edge, ["gateway.store"]) == []


def test_only_the_composition_root_wires_consumers_and_producers() -> None:
    found = [
        f"{module} imports {imported}"
        for module in MODULES
        if module != COMPOSITION_ROOT
        and not _within(module, "consumers")
        and not _within(module, "producers")
        for imported in _imports(module)
        if _within(imported, "consumers") or _within(imported, "producers")
    ]
    assert found == []


def test_the_command_line_tools_hang_off_the_cli_only() -> None:
    """The tools (ask, simulate-dms, accounts, ...) are leaves: the running gateway never
    depends on them, so a tool's change cannot change what the service does."""
    found = [
        f"{module} imports {imported}"
        for module in MODULES
        if module != "gateway.cli" and not _within(module, "gateway.tools")
        for imported in _imports(module)
        if _within(imported, "gateway.tools")
    ]
    assert found == []


def test_there_are_no_import_loops() -> None:
    graph = {m: {i for i in _imports(m) if i in MODULES and i != m} for m in MODULES}
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                loops.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert loops == []


def test_the_root_of_gateway_holds_few_modules() -> None:
    root_modules = sorted(p.name for p in (ROOT / "gateway").glob("*.py"))
    assert len(root_modules) <= 8, root_modules
