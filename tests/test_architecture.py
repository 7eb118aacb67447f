"""Import rules: protocol imports neither app; agent and hub never import each other."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "protocol": {
        "agent",
        "hub",
        "fastapi",
        "sqlalchemy",
        "paho",
        "sqlite_utils",
        "evdev",
        "serial",
    },
    "agent": {"hub", "fastapi", "sqlalchemy", "alembic"},
    "hub": {"agent", "evdev", "serial", "sqlite_utils"},
}


def _imports(path: Path, whole: bool = False) -> set[str]:
    """The packages a module imports (with ``whole``, the full module names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names if whole else {name.split(".")[0] for name in names}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_does_not_import_what_it_must_not(package: str) -> None:
    """No module of the package imports a forbidden package, even lazily inside a function."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_rule_checker_sees_lazy_imports(tmp_path: Path) -> None:
    """The checker finds an import hidden inside a function body."""
    sample = tmp_path / "m.py"
    sample.write_text("def f():\n    import hub.store\n    from agent import x\n")
    assert _imports(sample) == {"hub", "agent"}


def test_the_record_rules_are_pure() -> None:
    """hub/domain imports only the standard library, protocol/ and itself: no database, no
    clock source, no network, no file."""
    files = sorted((ROOT / "hub" / "domain").glob("*.py"))
    assert len(files) >= 4
    io = {"os", "io", "socket", "sqlite3", "subprocess", "pathlib", "shutil", "time", "asyncio"}
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imports(path, whole=True)
            if name.split(".")[0] in io
            or (
                name.split(".")[0] not in {*sys.stdlib_module_names, "__future__", "protocol"}
                and not name.startswith("hub.domain")
            )
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


AGENT_CORE = ["agent/decode", "agent/station.py", "agent/session.py", "agent/catalog.py"]


def test_the_agent_core_imports_only_the_standard_library_and_protocol() -> None:
    """Decoding, the station, its session and its catalogue import nothing but the standard
    library and protocol/: no edge of the agent, no device, no store."""
    core = {"agent.decode", "agent.session", "agent.station", "agent.catalog"}
    files = [p for part in AGENT_CORE for p in sorted((ROOT / part).glob("**/*.py"))]
    files += [ROOT / part for part in AGENT_CORE if part.endswith(".py")]
    assert len(files) >= 4
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imports(path, whole=True)
            if name.split(".")[0] not in {*sys.stdlib_module_names, "__future__", "protocol"}
            and not any(name == c or name.startswith(c + ".") for c in core)
        )
        for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_web_layer_reads_the_store_and_never_the_projector_or_ingest() -> None:
    """hub/web serves what the store's read queries give: it imports neither the projector
    (hub/reconcile) nor the ingest path."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name in _imports(path, whole=True)
            if name.startswith(("hub.reconcile", "hub.ingest"))
        )
        for path in (ROOT / "hub" / "web").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_module_of_the_hub_is_longer_than_500_lines() -> None:
    """A module says one concept (STYLE.md); past 500 lines it says several (issue 30:
    reconcile/apply.py had grown to 1,096). Migrations are history, not design."""
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "hub").rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > 500
    }
    assert long == {}


def _spelled_statuses(tree: ast.AST, words: set[str]) -> list[tuple[int, str]]:
    """Where a module compares with, sets or asks for a status spelled as a quoted word:
    operands of a comparison (and the tuples they hold), keyword arguments (``status=``),
    ``"status"``/``"kind"`` values of a dict, and ``in_``/``not_in``/``set_status``
    arguments. Column names and dict keys (words for pages) are not statuses."""

    def quoted(node: ast.AST) -> list[ast.Constant]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in words:
            return [node]
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return [c for element in node.elts for c in quoted(element)]
        if isinstance(node, ast.IfExp):  # status="short" if ... else "complete"
            return quoted(node.body) + quoted(node.orelse)
        return []

    found: list[ast.Constant] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            found += [c for part in (node.left, *node.comparators) for c in quoted(part)]
        elif isinstance(node, ast.keyword):
            found += quoted(node.value)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in ("status", "kind"):
                    found += quoted(value)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("in_", "not_in", "set_status"):
                found += [c for arg in node.args for c in quoted(arg)]
            elif name in ("Alert", "add", "open_of_kind"):  # an alert's severity and kind
                found += [c for arg in node.args[:2] for c in quoted(arg)]
    return sorted((c.lineno, str(c.value)) for c in found)


def test_the_records_edges_name_every_status_by_its_enum() -> None:
    """reconcile, store, web and ingest compare and set item, cycle, session and checklist
    statuses, session kinds, asset statuses and alert kinds and severities through
    hub/domain/statuses.py, never as quoted words (issue 30: a typo there was invisible to
    mypy)."""
    from hub.domain import statuses

    enums = (
        statuses.ItemStatus,
        statuses.CycleStatus,
        statuses.SessionStatus,
        statuses.ChecklistStatus,
        statuses.SessionKind,
        statuses.AssetStatus,
        statuses.AlertKind,
        statuses.Severity,
    )
    words = {str(member) for enum in enums for member in enum}
    spelled = {
        str(path.relative_to(ROOT)): found
        for package in ("reconcile", "store", "web", "ingest")
        for path in sorted((ROOT / "hub" / package).rglob("*.py"))
        if "migrations" not in path.parts
        and (found := _spelled_statuses(ast.parse(path.read_text()), words))
    }
    assert spelled == {}
