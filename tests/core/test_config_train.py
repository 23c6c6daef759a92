"""The train, evaluate, economics and mlflow sections of params."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, ConfigError


def test_defaults_hold_three_candidates_and_the_sqlite_store() -> None:
    config = Config()

    assert [c.kind for c in config.train.candidates] == [
        "logistic_regression",
        "hist_gradient_boosting",
        "xgboost",
    ]
    assert config.mlflow.tracking_uri == "sqlite:///mlflow.db"
    assert config.economics.acceptance_alpha / (
        config.economics.acceptance_alpha + config.economics.acceptance_beta
    ) == pytest.approx(0.3)


def test_a_search_range_upside_down_names_the_candidate_key() -> None:
    raw = {
        "train": {
            "candidates": [
                {
                    "name": "xgb",
                    "kind": "xgboost",
                    "search": {"max_depth": {"type": "int", "low": 8, "high": 3}},
                }
            ]
        }
    }

    with pytest.raises(ConfigError, match=r"train\.candidates\.0\.search\.max_depth"):
        Config.from_mapping(raw)


def test_unknown_kind_metric_and_duplicate_names_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"train\.candidates\.0\.kind"):
        Config.from_mapping({"train": {"candidates": [{"name": "a", "kind": "svm"}]}})
    with pytest.raises(ConfigError, match=r"train\.primary_metric"):
        Config.from_mapping({"train": {"primary_metric": "accuracy"}})
    with pytest.raises(ConfigError, match="unique names"):
        Config.from_mapping({"train": {"candidates": [{"name": "a", "kind": "xgboost"}] * 2}})


def test_params_file_of_the_project_loads() -> None:
    config = Config.load(Path(__file__).resolve().parents[2] / "params.yaml")

    assert {c.name for c in config.train.candidates} == {"logistic", "hist_gb", "xgboost"}
    assert config.train.gate.min_improvement > 0


def _search(param: dict[str, object]) -> dict[str, object]:
    return {"train": {"candidates": [{"name": "xgb", "kind": "xgboost", "search": {"p": param}}]}}


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"type": "categorical"}, "a categorical search param needs a non-empty choices list"),
        ({"type": "categorical", "choices": []}, "needs a non-empty choices list"),
        ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "a log-scale search param"),
        ({"type": "float", "low": -1.0, "high": 1.0, "log": True}, "needs low > 0"),
    ],
)
def test_a_search_param_optuna_cannot_draw_from_is_refused(
    param: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_mapping(_search(param))


def test_a_search_range_of_a_single_value_is_accepted() -> None:
    config = Config.from_mapping(_search({"type": "int", "low": 3, "high": 3}))

    assert config.train.candidates[0].search["p"].low == 3
