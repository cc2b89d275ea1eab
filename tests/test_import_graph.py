"""The monitor imports no exporter: aicache.prometheus reads its snapshots
(issue 8, "leave the layout clearer")."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "aicache"


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_monitoring_does_not_import_the_exporter() -> None:
    assert not any(
        "prometheus" in name for name in _imported_modules(PACKAGE / "monitoring.py")
    )
    assert "aicache.monitoring" in _imported_modules(PACKAGE / "prometheus.py")
