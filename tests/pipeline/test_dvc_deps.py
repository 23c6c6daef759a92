"""Every project file a stage runs is one of its ``dvc.yaml`` deps.

A file missing from a stage's deps means ``dvc repro`` keeps a stale output after that file
changes: the run looks reproducible and is not. Twice a stage lost a dependency this way (``crm``
for features and offers, ``pipeline/cli.py`` for all), so the import graph is read from the source
here and checked against ``dvc.yaml`` rather than kept in step by hand.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {p.name for p in PROJECT_ROOT.iterdir() if (p / "__init__.py").is_file()}
STAGES = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
PROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _module_file(module: str) -> Path | None:
    base = PROJECT_ROOT.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None  # a name imported from a module, not a module


def _files_run_by_import(module: str) -> list[Path]:
    """Importing ``a.b.c`` runs ``a/__init__.py``, ``a/b/__init__.py`` and ``a/b/c.py``."""
    parts = module.split(".")
    found = (_module_file(".".join(parts[:end])) for end in range(1, len(parts) + 1))
    return [path for path in found if path is not None]


def _imported_modules(path: Path, module_level_only: bool = False) -> Iterator[str]:
    """Modules ``path`` imports, in functions too (a stage imports lazily), but not under
    ``if __name__ == "__main__"`` (``python -m pipeline.x`` goes through the CLI, not the stage)."""
    package = path.parent.relative_to(PROJECT_ROOT).parts

    def walk(nodes: list[ast.AST]) -> Iterator[ast.AST]:
        for node in nodes:
            if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
                continue
            yield node
            if not module_level_only:
                yield from walk(list(ast.iter_child_nodes(node)))

    for node in walk(ast.parse(path.read_text(encoding="utf-8")).body):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


def _project_files(modules: Iterator[str]) -> set[Path]:
    seen: set[Path] = set()
    pending = [f for m in modules if m.split(".")[0] in PACKAGES for f in _files_run_by_import(m)]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for module in _imported_modules(path):
            if module.split(".")[0] in PACKAGES:
                pending.extend(_files_run_by_import(module))
    return seen


def _has_code(path: Path) -> bool:
    """An empty ``__init__.py`` (or one with only a docstring) cannot change what a stage does."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return any(not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)) for n in body)


def files_a_stage_runs(stage: str) -> set[Path]:
    """The ``churn`` console script's module (``pyproject.toml``: ``pipeline/launch.py``, which
    pins the numeric kernels and then imports the CLI) and the CLI's module-level imports, then
    the stage module and all it imports."""
    entry_module = PROJECT["scripts"]["churn"].split(":")[0]
    launch = _module_file(entry_module)
    assert launch is not None, f"the churn console script's module {entry_module} is not found"
    cli = PROJECT_ROOT / "pipeline" / "cli.py"
    files = _project_files(_imported_modules(launch, module_level_only=True))
    files |= _project_files(_imported_modules(cli, module_level_only=True))
    files |= _project_files(iter([f"pipeline.{stage}"]))
    return {launch, cli} | {path for path in files if _has_code(path)}


def _covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(PROJECT_ROOT).as_posix()
    return any(relative == dep or relative.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_project_file_a_stage_runs_is_in_its_deps(stage: str) -> None:
    command = STAGES[stage]["cmd"].split()
    assert command[:2] == ["churn", stage], "stage commands are `churn <stage>`"
    deps = [dep for dep in STAGES[stage]["deps"] if "${" not in dep]
    missing = sorted(
        path.relative_to(PROJECT_ROOT).as_posix()
        for path in files_a_stage_runs(stage)
        if not _covered(path, deps)
    )
    assert missing == [], f"dvc.yaml stage {stage!r} runs these files but does not depend on them"


def test_the_import_graph_reaches_lazy_imports() -> None:
    """The check is only as good as the graph: serve's lazily imported serving modules and the
    features stage's whole package must be found, and a test's own file must not."""
    serve = {p.relative_to(PROJECT_ROOT).as_posix() for p in files_a_stage_runs("serve")}
    assert {"serving/auth.py", "serving/settings.py", "pipeline/errors.py"} <= serve
    features = {p.relative_to(PROJECT_ROOT).as_posix() for p in files_a_stage_runs("features")}
    assert {"crm/contract.py", "features/families/rfm.py", "core/config.py"} <= features
    assert not any(path.startswith("tests/") for path in features)
