"""Every params key a stage reads is one of its ``dvc.yaml`` params, every path one of its files.

``test_dvc_deps`` checks the code a stage runs; this checks the settings. A key missing from a
stage's ``params`` means a change to it leaves ``dvc status`` clean and the stage's outputs stale:
the run looks reproducible and is not. Which keys a stage reads is recorded, not kept by hand:
each stage runs on a tiny world while every read of a config field is logged by its dotted path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Config, Section
from tests.serving.world import world_params

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STAGES = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
TRUTH_CHECK = {"paths.raw_dir", "paths.synthetic_raw_dir"}
"""Read by ``pipeline.truth`` only to compare them (is the export the synthetic world?); the
stages that ask depend on the features built from ``raw_dir``, which move when it does."""


def dotted_paths(config: Config) -> dict[int, str]:
    """Each section object of ``config`` (list items too) → its dotted path in params.yaml."""
    found: dict[int, str] = {}

    def walk(value: object, path: str) -> None:
        if isinstance(value, Section):
            found[id(value)] = path
            for name, field in type(value).model_fields.items():
                key = field.alias or name
                walk(value.__dict__[name], f"{path}.{key}" if path else key)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item, path)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item, path)

    walk(config, "")
    return found


class ReadRecorder:
    """While active, logs the dotted path of every config value read (not the sections passed
    through on the way to it). A section built during a run, not loaded, shows as ``<Class>``."""

    def __init__(self, config: Config) -> None:
        self._paths = dotted_paths(config)
        self.read: set[str] = set()

    def __enter__(self) -> ReadRecorder:
        original = super(Section, Section).__getattribute__  # BaseModel's
        paths, read = self._paths, self.read

        def recording(section: Section, name: str) -> Any:
            value = original(section, name)
            fields = type(section).model_fields
            if name in fields and not isinstance(value, Section):
                base = paths.get(id(section), f"<{type(section).__name__}>")
                key = fields[name].alias or name
                read.add(f"{base}.{key}" if base else key)
            return value

        Section.__getattribute__ = recording  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc_info: object) -> None:
        del Section.__getattribute__


def _stage_runs() -> dict[str, Callable[[Config], Any]]:
    from pipeline import evaluate, explain, features, generate, offers, train, validate

    return {
        "generate": generate.run,
        "validate": validate.run,
        "features": features.run,
        "train": train.run,
        "evaluate": evaluate.run,
        "explain": explain.run,
        "offers": offers.run,
    }


@pytest.fixture(scope="module")
def reads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """The config values each stage read, running the stages in order on a tiny world."""
    root = tmp_path_factory.mktemp("params-read")
    (root / "params.yaml").write_text(yaml.safe_dump(world_params(root)), encoding="utf-8")
    config = Config.load(root / "params.yaml")
    previous = os.getcwd()
    found: dict[str, set[str]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        os.chdir(root)
        try:
            for stage, run in _stage_runs().items():
                with ReadRecorder(config) as recorder:
                    run(config)
                found[stage] = recorder.read
        finally:
            os.chdir(previous)
    yield found


def _files(stage: dict[str, Any]) -> list[str]:
    entries = [*stage.get("deps", []), *stage.get("outs", []), *stage.get("metrics", [])]
    return [next(iter(entry)) if isinstance(entry, dict) else entry for entry in entries]


def test_every_stage_is_recorded() -> None:
    assert set(_stage_runs()) == set(STAGES)


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_params_key_a_stage_reads_is_in_its_params(
    stage: str, reads: dict[str, set[str]]
) -> None:
    declared = STAGES[stage].get("params", [])
    settings = {key for key in reads[stage] if not key.startswith("paths.")}
    assert settings, f"stage {stage!r} read no params at all: the recorder saw nothing"
    missing = sorted(
        key
        for key in settings
        if not any(key == entry or key.startswith(f"{entry}.") for entry in declared)
    )
    assert missing == [], f"dvc.yaml stage {stage!r} reads these params but does not list them"


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_path_a_stage_reads_is_one_of_its_files(
    stage: str, reads: dict[str, set[str]]
) -> None:
    declared = {
        f for entry in _files(STAGES[stage]) for f in re.findall(r"\$\{(paths\.\w+)\}", entry)
    }
    paths = {key for key in reads[stage] if key.startswith("paths.")}
    missing = sorted(paths - declared - TRUTH_CHECK)
    assert missing == [], (
        f"dvc.yaml stage {stage!r} reads these paths but has no dep or out on them"
    )


@pytest.mark.slow
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stage_that_uses_the_mlflow_store_is_never_restored_from_the_run_cache(
    stage: str, reads: dict[str, set[str]]
) -> None:
    """DVC restores a stage's outputs from its run-cache when it has seen the same inputs; the
    registry is not an output, so a restored train would name another champion than its alias
    (an uncached output turns the run-cache off for the stage)."""
    if not any(key.startswith("mlflow.") for key in reads[stage]):
        return
    outs = [entry for entry in STAGES[stage].get("outs", []) if isinstance(entry, dict)]
    uncached = [
        next(iter(entry)) for entry in outs if next(iter(entry.values())).get("cache") is False
    ]
    assert uncached, f"dvc.yaml stage {stage!r} writes to MLflow but DVC may restore it instead"


def test_the_recorder_logs_values_by_their_params_path() -> None:
    config = Config.from_mapping({"validate": {"max_examples": 3}})
    with ReadRecorder(config) as recorder:
        assert config.validate_.max_examples == 3
        _ = config.features.duckdb.threads
        _ = config.train.candidates[0].name
    assert recorder.read == {
        "validate.max_examples",
        "features.duckdb.threads",
        "train.candidates",
        "train.candidates.name",
    }
    _ = config.seed
    assert "seed" not in recorder.read
