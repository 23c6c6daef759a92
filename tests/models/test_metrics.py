from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from core.config import EconomicsConfig
from models.metrics import (
    MetricError,
    classification_metrics,
    expected_calibration_error,
    expected_maximum_profit,
    lift_at,
    max_profit,
    profit_at_acceptance,
    recall_at,
    score_for,
)

LABELS = [1, 0, 1, 0]
SCORES = [0.9, 0.8, 0.3, 0.1]
UNIFORM = EconomicsConfig(
    customer_value=200, offer_cost=10, contact_cost=1, acceptance_alpha=1, acceptance_beta=1
)


def test_emp_matches_the_hand_computed_integral_for_a_uniform_acceptance_rate() -> None:
    # Per customer (N = 4), targeting the top k: k=1: (190γ − 1)/4, k=3: (380γ − 13)/4, nobody: 0.
    # Envelope: 0 up to γ=1/190, k=1 up to γ=12/190, k=3 above; γ ~ U(0, 1).
    first = ((95 * (12 / 190) ** 2 - 12 / 190) - (95 * (1 / 190) ** 2 - 1 / 190)) / 4
    second = ((190 - 13) - (190 * (12 / 190) ** 2 - 13 * 12 / 190)) / 4
    targeted = (12 / 190 - 1 / 190) * 0.25 + (1 - 12 / 190) * 0.75

    result = expected_maximum_profit(LABELS, SCORES, UNIFORM)

    assert result.emp == pytest.approx(first + second, rel=1e-12)
    assert result.emp == pytest.approx(44.3453947368421, rel=1e-12)
    assert result.targeted_share == pytest.approx(targeted, rel=1e-12)


def test_emp_equals_numerical_integration_over_the_beta_distribution() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = labels * 0.4 + rng.random(300)
    economics = EconomicsConfig()  # Beta(6, 14)

    def best_profit(gamma: float) -> float:
        best = profit_at_acceptance(labels, scores, economics, gamma).max()
        return float(best * stats.beta(6, 14).pdf(gamma))

    numeric, _ = integrate.quad(best_profit, 0, 1, limit=500, points=[0.1, 0.2, 0.3, 0.5])

    assert expected_maximum_profit(labels, scores, economics).emp == pytest.approx(
        numeric, rel=1e-6
    )


def test_emp_of_a_useless_campaign_is_zero() -> None:
    expensive = EconomicsConfig(customer_value=10, offer_cost=50, contact_cost=5)

    assert expected_maximum_profit(LABELS, SCORES, expensive).emp == 0.0


def test_max_profit_at_the_mean_acceptance_rate() -> None:
    economics = EconomicsConfig()  # γ = 6 / 20 = 0.3: k=1 → (57 − 1)/4 = 14, k=3 → (114 − 13)/4

    best = max_profit(LABELS, SCORES, economics)

    assert best.profit_per_customer == pytest.approx(101 / 4)
    assert best.targeted_share == 0.75
    assert best.threshold == 0.3


def test_lift_and_recall_at_the_top_against_hand_counts() -> None:
    labels = [1, 0, 0, 1, 0, 0, 0, 0, 1, 0]  # base rate 0.3
    scores = [0.95, 0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.5, 0.05, 0.6]
    # top 20% = rows with 0.95 (churner) and 0.9 (not): rate 0.5 → lift 0.5 / 0.3; recall 1/3

    assert lift_at(labels, scores, 0.2) == pytest.approx(0.5 / 0.3)
    assert recall_at(labels, scores, 0.2) == pytest.approx(1 / 3)
    assert lift_at(labels, scores, 0.1) == pytest.approx(1 / 0.3)
    assert recall_at(labels, scores, 1.0) == 1.0


def test_expected_calibration_error_by_hand() -> None:
    labels = [0, 0, 1, 1]
    probabilities = [0.1, 0.1, 0.7, 0.9]
    # bin 1: mean 0.1, rate 0 → 0.1 × 2 rows; bin 7: 0.7 vs 1 → 0.3; bin 9: 0.9 vs 1 → 0.1

    assert expected_calibration_error(labels, probabilities, 10) == pytest.approx(0.6 / 4)
    assert expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_metrics_refuse_mismatched_or_single_class_input() -> None:
    with pytest.raises(MetricError, match="3 labels but 2 scores"):
        lift_at([1, 0, 1], [0.2, 0.3])
    with pytest.raises(MetricError, match="both churners and non-churners"):
        classification_metrics([1, 1], [0.2, 0.3], EconomicsConfig())
    with pytest.raises(MetricError, match="unknown primary metric"):
        score_for("accuracy", LABELS, SCORES, EconomicsConfig())


def test_classification_metrics_holds_every_headline_number() -> None:
    metrics = classification_metrics(LABELS, SCORES, EconomicsConfig(), top_fraction=0.25)

    assert metrics["roc_auc"] == pytest.approx(0.75)
    assert metrics["top_lift"] == pytest.approx(2.0)
    assert metrics["top_recall"] == pytest.approx(0.5)
    assert metrics["brier"] == pytest.approx((0.01 + 0.64 + 0.49 + 0.01) / 4)
    assert {"pr_auc", "log_loss", "ece", "emp", "max_profit"} <= set(metrics)


@pytest.mark.parametrize(
    ("labels", "scores", "message"),
    [
        ([], [], "no rows to score"),
        ([1, 0, 2], [0.1, 0.2, 0.3], "labels must be 0 or 1"),
        ([1, 0, 1], [0.1, float("nan"), float("nan")], "2 scores are NaN"),
    ],
)
def test_labels_and_scores_that_cannot_be_scored_are_refused_saying_why(
    labels: list[float], scores: list[float], message: str
) -> None:
    with pytest.raises(MetricError, match=message):
        lift_at(labels, scores)


def test_probabilities_outside_zero_one_are_refused_by_the_calibration_error() -> None:
    with pytest.raises(MetricError, match=r"probabilities must lie in \[0, 1\]"):
        expected_calibration_error([0, 1], [-0.01, 0.5])
    with pytest.raises(MetricError, match=r"probabilities must lie in \[0, 1\]"):
        expected_calibration_error([0, 1], [0.5, 1.01])


def test_the_top_share_is_rounded_up_but_never_past_a_whole_row() -> None:
    labels = [1, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    scores = [0.95, 0.9, 0.1, 0.8, 0.2, 0.3, 0.4, 0.5, 0.05, 0.6]
    # 30 % of 10 rows is the top 3, 31 % the top 4; 1 % is still one row

    assert lift_at(labels, scores, 0.3) == pytest.approx((2 / 3) / 0.3)
    assert lift_at(labels, scores, 0.31) == pytest.approx(0.5 / 0.3)  # 3.1 rows: the top 4
    assert lift_at(labels, scores, 0.01) == pytest.approx(1 / 0.3)
    with pytest.raises(MetricError, match=r"fraction must be in \(0, 1\], got 0"):
        lift_at(labels, scores, 0.0)
    with pytest.raises(MetricError, match=r"fraction must be in \(0, 1\], got 1.5"):
        recall_at(labels, scores, 1.5)
    with pytest.raises(MetricError, match="lift needs at least one churner"):
        lift_at([0, 0], [0.1, 0.2])
    with pytest.raises(MetricError, match="recall needs at least one churner"):
        recall_at([0, 0], [0.1, 0.2])


def test_tied_scores_are_targeted_together() -> None:
    economics = EconomicsConfig()  # γ = 0.3: a churner is worth 57 − 1, a non-churner costs 11
    # the top two tie: targeting the churner means targeting the non-churner beside it too

    best = max_profit([1, 0, 0, 0], [0.9, 0.9, 0.1, 0.1], economics)

    assert best.profit_per_customer == pytest.approx((57 - 1 - 11) / 4)
    assert best.targeted_share == 0.5
    assert best.threshold == 0.9


def test_the_primary_metric_is_picked_by_name() -> None:
    economics = EconomicsConfig()

    assert score_for("roc_auc", LABELS, SCORES, economics) == pytest.approx(0.75)
    assert score_for("pr_auc", LABELS, SCORES, economics) == pytest.approx((1 + 2 / 3) / 2)
    assert score_for("emp", LABELS, SCORES, economics) == pytest.approx(
        expected_maximum_profit(LABELS, SCORES, economics).emp
    )


def test_a_probability_of_exactly_one_falls_in_the_last_of_ten_bins() -> None:
    # ten bins by default: 0.1 and 0.19 share bin 1 (0.145 vs 0.5); 1.0 and 0.9 share bin 9

    assert expected_calibration_error([0, 1], [0.1, 0.19]) == pytest.approx(0.355)
    assert expected_calibration_error([0, 1], [1.0, 0.9]) == pytest.approx(0.45)
