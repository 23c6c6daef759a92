"""The real thing: ``dvc repro`` on a tiny world in a scratch copy of the project."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILES = ["dvc.yaml", ".dvcignore", ".dvc/config", "params.yaml", "constraints.txt"]
PROJECT_PACKAGES = [
    "core",
    "crm",
    "synthetic",
    "features",
    "models",
    "offers",
    "serving",
    "pipeline",
]

pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Not MLFLOW_TRACKING_URI: MLflow writes it into this process's environment whenever an
    # in-process test picks a store, and the scratch project must use its own mlflow.db.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def _dvc(args: list[str], cwd: Path) -> str:
    result = _run([str(Path(sys.executable).parent / "dvc"), *args], cwd)
    assert result.returncode == 0, f"dvc {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _set_param(project: Path, section: str, key: str, value: int) -> None:
    """Edit one ``section.key`` line in place, keeping the file's quoting and comments."""
    params_path = project / "params.yaml"
    pattern = re.compile(rf"^(  {key}:)\s*\S+", flags=re.MULTILINE)
    edited, count = pattern.subn(rf"\g<1> {value}", params_path.read_text())
    assert count == 1, f"expected exactly one line for {section}.{key}"
    params_path.write_text(edited)
    assert yaml.safe_load(edited)[section][key] == value


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch git+DVC checkout of this project with a world of a few hundred customers."""
    return _built_project(tmp_path_factory.mktemp("project"))


def _built_project(root: Path) -> Path:
    """``root`` made a git+DVC copy of this project (tiny world), after ``dvc repro``."""
    for name in PROJECT_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, root / name)
    for package in PROJECT_PACKAGES:
        shutil.copytree(
            PROJECT_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    _set_param(root, "generate", "n_customers", 400)
    _set_param(root, "generate", "chunk_customers", 200)
    assert _run(["git", "init", "-q"], root).returncode == 0
    _dvc(["repro"], root)
    return root


def test_repro_writes_raw_tables_truth_and_report(project: Path) -> None:
    report = json.loads((project / "data/validation/report.json").read_text())

    assert (project / "data/raw/customers").is_dir()
    assert (project / "data/truth").is_dir()
    assert "customers" in json.dumps(report)


def test_second_repro_changes_nothing_and_status_is_clean(project: Path) -> None:
    lock_before = (project / "dvc.lock").read_text()

    output = _dvc(["repro"], project)

    assert "didn't change" in output or "up to date" in output
    assert "Running stage" not in output
    assert (project / "dvc.lock").read_text() == lock_before
    assert json.loads(_dvc(["status", "--json"], project)) == {}


def test_a_second_checkout_reproduces_every_output_byte_for_byte(
    project: Path, tmp_path: Path
) -> None:
    """Same code, params and seed in another folder with its own MLflow store: ``dvc repro``
    records the same hash for every output, so a fresh clone's run leaves ``dvc.lock`` as
    committed (before, ``data/models`` differed on every run: MLflow ids and timestamps)."""
    again = _built_project(tmp_path)

    assert (again / "dvc.lock").read_text() == (project / "dvc.lock").read_text()


def test_params_change_marks_exactly_the_affected_stage(project: Path) -> None:
    original = (project / "params.yaml").read_text()
    try:
        _set_param(project, "validate", "max_examples", 3)
        assert set(json.loads(_dvc(["status", "--json"], project))) == {"validate"}

        (project / "params.yaml").write_text(original)
        _set_param(project, "generate", "n_customers", 401)
        assert set(json.loads(_dvc(["status", "--json"], project))) == {"generate"}
    finally:
        (project / "params.yaml").write_text(original)
    assert json.loads(_dvc(["status", "--json"], project)) == {}


def test_repro_trains_registers_a_champion_and_evaluates(project: Path) -> None:
    registered = json.loads((project / "data/models/registered.json").read_text())
    metrics = json.loads((project / "evaluation/metrics.json").read_text())

    assert registered["champion_version"] == registered["challenger_version"] == "1"
    trained = json.loads((project / "data/models/training.json").read_text())
    assert set(trained) == {"logistic", "hist_gb", "xgboost"}
    assert not set(registered) & {"parent_run_id", "candidate_runs", "model_uri"}  # MLflow's
    assert {"champion", "logistic", "hist_gb", "xgboost", "oracle"} == set(metrics["models"])
    assert (project / "mlflow.db").is_file()  # the tracking store lives beside, not in, DVC outs
    assert (project / "evaluation/plots/roc/champion.csv").is_file()


def test_a_model_param_change_marks_train_and_evaluate_only(project: Path) -> None:
    params_path = project / "params.yaml"
    original = params_path.read_text()
    edited, count = re.subn(r"^(    n_trials:)\s*\d+", r"\g<1> 1", original, count=1, flags=re.M)
    assert count == 1
    try:
        params_path.write_text(edited)
        assert set(json.loads(_dvc(["status", "--json"], project))) == {"train", "evaluate"}
    finally:
        params_path.write_text(original)
    assert json.loads(_dvc(["status", "--json"], project)) == {}
