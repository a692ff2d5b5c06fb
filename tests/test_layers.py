"""The package's layers (docs/design.md): a module imports from its own layer and the layers
above it, never from one below; and the floor and the plan import no torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workflow" / "scripts" / "aedefense"
LAYERS = ["files", "plan", "data", "core", "jobs", "report", "cost"]


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every aedefense import in a file, those inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aedefense"):
            names = [node.module] if node.module != "aedefense" else [f"aedefense.{a.name}" for a in node.names]
            found += [(name, node.lineno) for name in names]
        elif isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.startswith("aedefense.")]
    return found


def test_no_module_imports_from_a_layer_below_its_own():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = path.relative_to(PACKAGE).parts[0]
        if layer not in LAYERS:
            continue  # the top-level modules (api, cli, config_check) may import any layer
        for module, line in imported_modules(path):
            target = module.split(".")[1] if "." in module else ""
            if target in LAYERS and LAYERS.index(target) > LAYERS.index(layer):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} imports {module} ({target}/ is below {layer}/)")
    assert not wrong, "\n".join(wrong)


def test_the_plan_and_the_table_and_figure_jobs_load_without_torch():
    """The Snakefile imports the floor and the plan while it plans, and the table, figure and
    claims jobs only read CSVs: torch would add seconds to every dry run and every such job."""
    modules = [
        f"aedefense.{path.relative_to(PACKAGE).with_suffix('').as_posix().replace('/', '.')}"
        for layer in ("files", "plan")
        for path in sorted((PACKAGE / layer).glob("*.py"))
        if path.name != "__init__.py"
    ]
    modules += ["aedefense.jobs.runtime", "aedefense.report.results", "aedefense.report.sanity"]
    modules += ["aedefense.report.figures", "aedefense.report.claims", "aedefense.report.summary"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
