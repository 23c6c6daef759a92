from __future__ import annotations

import pytest

from core.config import GateConfig
from models.gate import GateError, decide_promotion

GATE = GateConfig(min_improvement=0.01, ece_tolerance=0.005)
CHAMPION = {"pr_auc": 0.80, "roc_auc": 0.90, "ece": 0.020}


def test_the_first_model_becomes_champion() -> None:
    decision = decide_promotion({"pr_auc": 0.5, "ece": 0.1}, None, "pr_auc", GATE)

    assert decision.promote
    assert "first model" in decision.reason
    assert decision.champion_primary is None


def test_a_better_challenger_is_promoted_with_its_numbers() -> None:
    decision = decide_promotion({"pr_auc": 0.82, "ece": 0.022}, CHAMPION, "pr_auc", GATE)

    assert decision.promote
    assert (decision.challenger_primary, decision.champion_primary) == (0.82, 0.80)
    assert decision.as_dict()["champion_ece"] == 0.020


def test_a_worse_challenger_is_refused() -> None:
    decision = decide_promotion({"pr_auc": 0.78, "ece": 0.01}, CHAMPION, "pr_auc", GATE)

    assert not decision.promote
    assert "below the required 0.0100" in decision.reason


def test_a_gain_smaller_than_the_margin_is_refused() -> None:
    decision = decide_promotion({"pr_auc": 0.805, "ece": 0.02}, CHAMPION, "pr_auc", GATE)

    assert not decision.promote


def test_the_margin_is_in_metric_points_not_relative_to_the_champion() -> None:
    weak_champion = {"pr_auc": 0.40, "ece": 0.02}

    # +0.009 is 2.25% of 0.40 (a relative margin would pass) but below 0.01 points
    decision = decide_promotion({"pr_auc": 0.409, "ece": 0.02}, weak_champion, "pr_auc", GATE)

    assert not decision.promote


def test_better_ranking_with_much_worse_calibration_is_refused() -> None:
    decision = decide_promotion({"pr_auc": 0.90, "ece": 0.030}, CHAMPION, "pr_auc", GATE)

    assert not decision.promote
    assert "ECE" in decision.reason


def test_the_primary_metric_is_chosen_by_params() -> None:
    challenger = {"pr_auc": 0.70, "roc_auc": 0.95, "ece": 0.02}

    assert decide_promotion(challenger, CHAMPION, "roc_auc", GATE).promote
    assert not decide_promotion(challenger, CHAMPION, "pr_auc", GATE).promote


def test_missing_metric_names_what_is_there() -> None:
    with pytest.raises(GateError, match="no 'emp'"):
        decide_promotion({"pr_auc": 0.9, "ece": 0.0}, CHAMPION, "emp", GATE)


def test_a_gain_of_exactly_the_margin_is_promoted() -> None:
    # binary fractions, so the gain is exactly the margin: "beat by min_improvement" includes it
    gate = GateConfig(min_improvement=0.125, ece_tolerance=0.0625)
    champion = {"pr_auc": 0.5, "ece": 0.125}

    decision = decide_promotion({"pr_auc": 0.625, "ece": 0.125}, champion, "pr_auc", gate)

    assert decision.promote
    assert not decide_promotion({"pr_auc": 0.5625, "ece": 0.125}, champion, "pr_auc", gate).promote


def test_calibration_worse_by_exactly_the_tolerance_is_promoted() -> None:
    # "at most ece_tolerance worse": worse by exactly the tolerance passes, a hair more does not
    gate = GateConfig(min_improvement=0.125, ece_tolerance=0.0625)
    champion = {"pr_auc": 0.5, "ece": 0.125}

    decision = decide_promotion({"pr_auc": 0.75, "ece": 0.1875}, champion, "pr_auc", gate)

    assert decision.promote
    assert not decide_promotion({"pr_auc": 0.75, "ece": 0.25}, champion, "pr_auc", gate).promote
