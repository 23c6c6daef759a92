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
