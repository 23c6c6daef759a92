from __future__ import annotations

import datetime as dt
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import Config, ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_project_params_file_loads_and_matches_schema() -> None:
    config = Config.load(PROJECT_ROOT / "params.yaml")

    assert config.seed == 42
    assert config.paths.raw_dir == PROJECT_ROOT / "data/raw"
    assert config.validate_.max_examples == 5
    assert config.generate.end_date > config.generate.start_date


def test_unknown_key_fails_with_its_dotted_path(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("generate:\n  n_custmers: 10\n")

    with pytest.raises(ConfigError) as error:
        Config.load(params)

    assert "generate.n_custmers: unknown key" in str(error.value)
    assert str(params) in str(error.value)


def test_wrong_type_fails_naming_key_expectation_and_value(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("seed: forty-two\nvalidate:\n  latest_date: someday\n")

    with pytest.raises(ConfigError) as error:
        Config.load(params)

    message = str(error.value)
    assert "2 invalid setting(s)" in message
    assert "seed: Input should be a valid integer" in message
    assert "'forty-two'" in message
    assert "validate.latest_date: Input should be a valid date" in message


def test_relative_paths_resolve_against_the_params_folder(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("paths:\n  raw_dir: export/crm\n  truth_dir: /abs/truth\n")

    config = Config.load(params)

    assert config.paths.raw_dir == tmp_path / "export/crm"
    assert config.paths.truth_dir == Path("/abs/truth")


def test_empty_params_file_gives_the_defaults(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("")

    config = Config.load(params)

    assert config.validate_.earliest_date == dt.date(1990, 1, 1)


def test_a_day_may_be_written_as_a_yaml_date_or_as_text(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("generate:\n  start_date: 2023-02-01\n  end_date: '2024-03-31'\n")

    config = Config.load(params)

    assert (config.generate.start_date, config.generate.end_date) == (
        dt.date(2023, 2, 1),
        dt.date(2024, 3, 31),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "expected a mapping at the top level"),
        ("seed: [1\n", "not valid YAML"),
        ("seed: 1\nseed: 2\n", "found the key 'seed' twice"),  # PyYAML would keep the 2
        ("x: &d {count: 3}\nfeatures:\n  cutoffs: {<<: *d, count: 4}\n", "x: unknown key"),
        ("features:\n  cutoffs: {count: 3, count: 4}\n", "found the key 'count' twice"),
        (
            "features:\n  duckdb: {memory_limit: lots}\n",
            r"features.duckdb.memory_limit: Value error, expected a size such as 4GB",
        ),
        ("features:\n  duckdb: {memory_limit: -3GB}\n", "expected a size such as 4GB"),
        # DuckDB takes 0 and then fails the first query on memory
        (
            "features:\n  duckdb: {memory_limit: 0GB}\n",
            "memory_limit: Value error, expected a size above 0",
        ),
        ("features:\n  duckdb: {threads: 100000}\n", "threads: Input should be less than"),
        # pydantic reads a number as seconds since 1970: 0 would be 1970-01-01 without a word
        ("generate:\n  start_date: 20230101\n", "start_date: expected a date written YYYY-MM-DD"),
        ("generate:\n  start_date: 0\n", "start_date: expected a date written YYYY-MM-DD"),
        ("features:\n  snapshot_date: '20240101'\n", "snapshot_date: expected a date written"),
        # PyYAML raised a bare ValueError (a traceback) for a date-shaped value that is no day
        ("generate:\n  end_date: 2023-13-01\n", "(?s)'2023-13-01' is not a valid date .*line 2"),
        ("validate:\n  latest_date: 2023-02-30\n", "'2023-02-30' is not a valid date"),
    ],
)
def test_malformed_params_file_is_a_config_error(tmp_path: Path, text: str, expected: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text)

    with pytest.raises(ConfigError, match=expected):
        Config.load(params)


def test_missing_params_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        Config.load(tmp_path / "nope.yaml")


def test_a_folder_or_binary_file_as_params_is_a_config_error(tmp_path: Path) -> None:
    binary = tmp_path / "params.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")

    with pytest.raises(ConfigError, match="a folder, expected a params YAML file"):
        Config.load(tmp_path)
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        Config.load(binary)


def test_a_file_as_duckdb_temp_directory_is_a_config_error(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  duckdb: {temp_directory: params.yaml}\n")

    with pytest.raises(ConfigError, match=r"temp_directory .*params\.yaml is a file"):
        Config.load(params)


@pytest.mark.parametrize(
    ("paths", "named"),
    [
        ({"raw_dir": "sb/raw", "features_dir": "sb"}, "paths.features_dir"),
        ({"offers_dir": "data"}, "paths.raw_dir"),
        ({"reports_dir": "."}, "the project folder"),
        ({"raw_dir": "data/raw/mine"}, "paths.raw_dir"),  # generate replaces data/raw
        ({"models_dir": "data/explain"}, "paths.explain_dir"),
    ],
)
def test_an_output_folder_holding_another_path_is_refused(
    tmp_path: Path, paths: dict[str, str], named: str
) -> None:
    """A stage swaps its output folder in whole: anything else inside it would be deleted."""
    with pytest.raises(ConfigError, match="replaces that folder as a whole") as raised:
        Config.from_mapping({"paths": paths}, source="p.yaml", base_dir=tmp_path)

    assert named in str(raised.value)


def test_the_synthetic_and_the_read_raw_folder_may_be_one_and_exports_live_anywhere(
    tmp_path: Path,
) -> None:
    Config.from_mapping({"paths": {"raw_dir": "data/raw"}}, base_dir=tmp_path)
    Config.from_mapping({"paths": {"raw_dir": "../export", "features_dir": "f"}}, base_dir=tmp_path)


def test_a_path_of_the_wrong_kind_is_refused_naming_the_setting(tmp_path: Path) -> None:
    """An OS error deep in a stage (IsADirectoryError, FileExistsError) said neither."""
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    cases = {
        "raw_dir": ("notes.txt", "paths.raw_dir .*notes.txt is a file; expected a folder"),
        "validation_report": ("folder", "paths.validation_report .*folder is a folder"),
        "features_dir": ("notes.txt/features", "features_dir .* lies below the file .*notes.txt"),
    }
    for name, (value, said) in cases.items():
        with pytest.raises(ConfigError, match=said):
            Config.from_mapping({"paths": {name: value}}, base_dir=tmp_path)


def test_config_is_immutable() -> None:
    config = Config.from_mapping({})

    with pytest.raises(ValueError, match="frozen"):
        config.seed = 1  # type: ignore[misc]


def test_feature_engine_spill_folder_and_history_come_from_params(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  history_days: 400\n  duckdb: {temp_directory: tmp/spill}\n")

    config = Config.load(params)

    assert config.features.history_days == 400
    assert config.features.duckdb.temp_directory == tmp_path / "tmp/spill"


def test_history_shorter_than_the_longest_window_is_refused(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("features:\n  history_days: 90\n")

    with pytest.raises(ConfigError, match=r"features\.history_days"):
        Config.load(params)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: -1\n", "seed: Input should be greater than or equal to 0"),
        ("seed: 4294967296\n", "seed: Input should be less than 4294967296"),
        ("generate:\n  offers: []\n", "generate.offers: List should have at least 1 item"),
        ("offers:\n  learners: []\n", "offers.learners: List should have at least 1 item"),
        (
            "validate:\n  earliest_date: 2030-01-01\n  latest_date: 2020-01-01\n",
            "earliest_date 2030-01-01 must be before latest_date 2020-01-01",
        ),
    ],
)
def test_settings_that_would_crash_a_later_stage_are_refused_at_load(
    tmp_path: Path, text: str, expected: str
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(text)

    with pytest.raises(ConfigError) as error:
        Config.load(params)

    assert expected in str(error.value)


_PICKLE_DIGEST = """
import hashlib, pickle, sys
from core.config import Config
config = Config.load(sys.argv[1])
print(hashlib.sha256(pickle.dumps(config)).hexdigest())
"""


def test_config_pickles_to_the_same_bytes_in_every_process() -> None:
    """The offer policy artefact pickles its config: string hashing differs per process, and
    the bytes must not (else `dvc repro -f` changes an output with nothing changed)."""
    digests = {
        subprocess.run(
            [sys.executable, "-c", _PICKLE_DIGEST, str(PROJECT_ROOT / "params.yaml")],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(digests) == 1


def test_config_survives_a_pickle_round_trip() -> None:
    config = Config.load(PROJECT_ROOT / "params.yaml")
    restored = pickle.loads(pickle.dumps(config))
    assert restored == config
    assert restored.offers.model_fields_set == config.offers.model_fields_set
    assert isinstance(restored.offers.model_fields_set, set)


def xgboost_candidate(**settings: object) -> dict[str, object]:
    return {"train": {"candidates": [{"name": "xgb", "kind": "xgboost", **settings}]}}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # XGBoost itself fits one tree, no early stopping or zero trees for these, silently
        (
            xgboost_candidate(params={"early_stopping_rounds": -3}),
            "train.candidates.0: Value error, params.early_stopping_rounds must be a whole "
            "number >= 1, got -3 (null: no early stopping)",
        ),
        (
            xgboost_candidate(params={"early_stopping_rounds": 0}),
            "params.early_stopping_rounds must be a whole number >= 1, got 0",
        ),
        (
            xgboost_candidate(params={"n_estimators": 0}),
            "params.n_estimators must be a whole number >= 1, got 0",
        ),
        (
            xgboost_candidate(search={"n_estimators": {"type": "int", "low": 0, "high": 50}}),
            "search.n_estimators must start at 1 or above, got 0.0",
        ),
        (
            {"offers": {"xgboost": {"n_estimators": -1}}},
            "offers: Value error, xgboost.n_estimators must be a whole number >= 1, got -1",
        ),
    ],
)
def test_xgboost_rounds_below_one_are_refused_at_load(
    raw: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(raw)

    assert expected in str(caught.value)


def test_xgboost_without_early_stopping_is_still_allowed() -> None:
    config = Config.from_mapping(xgboost_candidate(params={"early_stopping_rounds": None}))

    assert config.train.candidates[0].params == {"early_stopping_rounds": None}
    other = {"train": {"candidates": [{"name": "hgb", "kind": "hist_gradient_boosting"}]}}
    assert Config.from_mapping(other).train.candidates[0].kind == "hist_gradient_boosting"


@pytest.mark.parametrize(
    ("generate", "expected"),
    [
        ({"end_date": "2023-12-31"}, "end_date must be at least 365 days after start_date"),
        (
            {"end_date": "2024-01-01", "truth": {"min_history_days": 365}},
            "truth.min_history_days must be shorter than the span of the world",
        ),
        (
            {"offers": [{"id": "a", "description": "x"}, {"id": "a", "description": "y"}]},
            "offer ids must be unique",
        ),
        ({"churn_rate_bounds": [0.3, 0.2]}, "churn_rate_bounds must be 0 <= low <= high <= 1"),
        ({"churn_rate_bounds": [-0.1, 0.2]}, "churn_rate_bounds must be 0 <= low <= high <= 1"),
        ({"churn_rate_bounds": [0.2, 1.5]}, "churn_rate_bounds must be 0 <= low <= high <= 1"),
        ({"countries": {}}, "countries needs at least one non-negative weight"),
        ({"countries": {"DE": -1.0, "FR": 2.0}}, "countries needs at least one non-negative"),
        ({"acquisition_channels": {"organic": 0.0}}, "acquisition_channels needs at least one"),
    ],
)
def test_a_synthetic_world_that_cannot_be_simulated_is_refused_at_load(
    generate: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(expected)):
        Config.from_mapping({"generate": {"start_date": "2023-01-01", **generate}})


def test_a_synthetic_world_at_its_limits_is_accepted() -> None:
    """A year exactly, one day more of span than of history, bounds 0..1 or a single rate,
    and a weight of 0 next to a positive one."""
    for generate in (
        {"end_date": "2024-01-01", "truth": {"min_history_days": 364}},
        {"churn_rate_bounds": [0.0, 1.0]},
        {"churn_rate_bounds": [0.2, 0.2]},
        {"countries": {"DE": 0.0, "FR": 1.0}},
    ):
        Config.from_mapping({"generate": {"start_date": "2023-01-01", **generate}})


def test_an_export_date_range_of_a_single_day_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be before latest_date"):
        Config.from_mapping(
            {"validate": {"earliest_date": "2024-01-01", "latest_date": "2024-01-01"}}
        )


@pytest.mark.parametrize("tiers", [[0.0, 0.5], [0.5, 1.0], [0.5, 0.2], [0.2, 0.2]])
def test_risk_tiers_outside_zero_one_or_not_increasing_are_refused(tiers: list[float]) -> None:
    with pytest.raises(ConfigError, match="risk_tiers must increase strictly within"):
        Config.from_mapping({"explain": {"risk_tiers": tiers}})


def test_risk_tiers_increasing_within_zero_one_are_accepted() -> None:
    config = Config.from_mapping({"explain": {"risk_tiers": [0.01, 0.5, 0.99]}})

    assert config.explain.risk_tiers == (0.01, 0.5, 0.99)
