from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from offers.allocation import NO_OFFER
from offers.held_out import (
    ClusterResampler,
    HeldOutDataError,
    HeldOutRows,
    compare_rules,
    estimated_net_gain,
    uplift_calibration,
)

COSTS = [1.0, 3.0]
CATALOG = ["cheap", "dear"]


def _campaign(n: int, seed: int, baseline_noise: float = 0.0) -> tuple[HeldOutRows, np.ndarray]:
    """A randomised campaign (20% control, offers drawn uniformly) and each row's true
    retention gain per offer: "cheap" helps the first half by 0.10, "dear" everyone by 0.05."""
    rng = np.random.default_rng(seed)
    stay = rng.uniform(0.3, 0.8, n)
    gain = np.column_stack([np.where(np.arange(n) < n // 2, 0.10, 0.0), np.full(n, 0.05)])
    arm = np.where(rng.random(n) < 0.2, NO_OFFER, rng.integers(0, 2, n))
    treated_gain = np.where(arm == NO_OFFER, 0.0, gain[np.arange(n), np.maximum(arm, 0)])
    retained = (rng.random(n) < stay + treated_gain).astype(float)
    value = rng.gamma(2.0, 20.0, n)
    # the model's guess of staying without an offer: right on average, off per row
    expected = np.clip(stay + rng.normal(0.0, baseline_noise, n), 0.0, 1.0)
    return HeldOutRows(arm, retained, value, expected), gain


def _true_net_gain(decision: np.ndarray, gain: np.ndarray, value: np.ndarray) -> float:
    sent = np.flatnonzero(decision != NO_OFFER)
    offer = decision[sent]
    return float((gain[sent, offer] * value[sent]).sum() - np.asarray(COSTS)[offer].sum())


def _rule(n: int) -> np.ndarray:
    """Cheap to the first half, dear to every third row of the rest, nothing to the others."""
    decision = np.full(n, NO_OFFER)
    decision[: n // 2] = 0
    decision[n // 2 :: 3] = 1
    return decision


@pytest.mark.parametrize("baseline_noise", [0.0, 0.3])
def test_estimate_is_unbiased_and_its_interval_covers_the_truth(baseline_noise: float) -> None:
    # The arms are randomised, so subtracting the model's expected retention cannot bias the
    # difference between them, however poor that model is (baseline_noise 0.3).
    n, replications = 2000, 60
    estimates, covered = [], 0
    for seed in range(replications):
        rows, gain = _campaign(n, seed, baseline_noise)
        decision = _rule(n)
        truth = _true_net_gain(decision, gain, rows.value)
        result = compare_rules({"rule": decision}, rows, COSTS, "rule", seed, rounds=150)["rule"]
        estimates.append(result["net_gain"] - truth)
        covered += result["net_gain_ci_low"] <= truth <= result["net_gain_ci_high"]
    errors = np.asarray(estimates)
    standard_error = errors.std(ddof=1) / np.sqrt(replications)
    assert abs(errors.mean()) < 3 * standard_error
    assert covered / replications >= 0.85


def test_sends_nothing_gains_nothing_and_a_rule_against_itself_differs_by_zero() -> None:
    rows, _ = _campaign(500, seed=1)
    nothing = np.full(500, NO_OFFER)
    assert estimated_net_gain(nothing, rows, COSTS) == {
        "net_gain": 0.0,
        "customers_saved": 0.0,
        "cost": 0.0,
        "sends": 0,
    }
    rule = _rule(500)
    result = compare_rules({"a": rule, "b": rule.copy()}, rows, COSTS, "a", seed=0, rounds=50)
    assert result["b"]["a_minus_this_net_gain_ci_low"] == 0.0
    assert result["b"]["a_minus_this_net_gain_ci_high"] == 0.0


def test_estimate_on_hand_built_rows() -> None:
    # picks of offer 0: rows 0-3; treated rows 0, 1 (stayed, left), control rows 2, 3 (left)
    rows = HeldOutRows(
        arm=np.array([0, 0, NO_OFFER, NO_OFFER, 1]),
        retained=np.array([1.0, 0.0, 0.0, 0.0, 1.0]),
        value=np.array([10.0, 20.0, 30.0, 40.0, 50.0]),
        expected_retained=np.zeros(5),
    )
    decision = np.array([0, 0, 0, 0, NO_OFFER])
    result = estimated_net_gain(decision, rows, COSTS)
    # 4 sends × (mean worth treated (10 + 0) / 2 - mean worth control 0 - cost 1)
    assert result == {"net_gain": 16.0, "customers_saved": 2.0, "cost": 4.0, "sends": 4}


def test_an_offer_without_treated_or_control_rows_among_its_picks_has_no_estimate() -> None:
    rows = HeldOutRows(
        arm=np.array([1, 1, NO_OFFER]),
        retained=np.ones(3),
        value=np.ones(3),
        expected_retained=np.zeros(3),
    )
    result = compare_rules({"rule": np.array([0, 0, 0])}, rows, COSTS, "rule", seed=0, rounds=20)
    assert result["rule"]["net_gain"] is None
    assert result["rule"]["cost"] == 3.0
    assert result["rule"]["net_gain_ci_low"] is None


def test_calibration_compares_predicted_with_measured_uplift() -> None:
    rows = HeldOutRows(
        arm=np.array([0, 0, 0, 0, NO_OFFER, NO_OFFER, 1, 1]),
        retained=np.array([1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]),
        value=np.ones(8),
        expected_retained=np.zeros(8),
    )
    predicted = np.column_stack([np.full(8, 0.2), np.full(8, 0.1)])
    picks = np.array([0, 0, NO_OFFER, NO_OFFER, 0, NO_OFFER, 1, 1])
    result = uplift_calibration(predicted, rows, CATALOG, picks)
    everyone = result["cheap"]["all"]
    # treated retention 3/4, control 1/2
    assert everyone["measured_uplift"] == pytest.approx(0.25)
    assert everyone["predicted_uplift"] == pytest.approx(0.2)
    assert everyone["measured_ci_low"] < 0.25 < everyone["measured_ci_high"]
    assert (everyone["treated_rows"], everyone["control_rows"]) == (4, 2)
    assert everyone["predicted_within_ci"] is True
    picked = result["cheap"]["policy_picks"]
    assert (picked["rows"], picked["treated_rows"], picked["control_rows"]) == (3, 2, 1)
    assert picked["measured_uplift"] == pytest.approx(0.0)
    # offer 1's picks hold no control row: nothing measured
    assert result["dear"]["policy_picks"]["measured_uplift"] is None
    assert result["dear"]["policy_picks"]["predicted_within_ci"] is None
    with pytest.raises(HeldOutDataError, match=r"held-out rows × catalogue offers"):
        uplift_calibration(predicted[:, :1], rows, CATALOG, picks)


def test_rows_from_campaigns_refuse_an_offer_missing_from_the_catalogue() -> None:
    offers = pd.Series(["cheap", None, "gone"])
    churned = pd.Series([0, 1, 0])
    with pytest.raises(HeldOutDataError, match=r"\['gone'\]"):
        HeldOutRows.from_campaigns(offers, churned, np.ones(3), np.zeros(3), CATALOG)
    rows = HeldOutRows.from_campaigns(
        offers[:2], churned[:2], np.ones(2), np.full(2, 0.25), CATALOG
    )
    assert rows.arm.tolist() == [0, NO_OFFER]
    assert rows.retained.tolist() == [1.0, 0.0]
    assert rows.expected_retained.tolist() == [0.75, 0.75]


def test_the_bootstrap_resamples_whole_customers() -> None:
    resample = ClusterResampler(np.array(["b", "a", "b", "c", "a", "a"]))
    rows_of = {"a": {1, 4, 5}, "b": {0, 2}, "c": {3}}
    for seed in range(20):
        index = resample(np.random.default_rng(seed))
        drawn = [next(c for c, rows in rows_of.items() if row in rows) for row in index]
        for customer, rows in rows_of.items():
            times = drawn.count(customer)
            assert times % len(rows) == 0
            # every draw of a customer brings each of their rows once
            assert all(list(index).count(row) == times // len(rows) for row in rows)


def test_customers_in_several_campaigns_widen_the_interval() -> None:
    # every customer twice with the same outcome: row-by-row resampling thinks it has twice the
    # evidence it has
    rows, _ = _campaign(1500, seed=4)
    twice = rows.take(np.repeat(np.arange(1500), 2))
    rule = np.repeat(_rule(1500), 2)
    customers = np.repeat(np.arange(1500), 2)

    def width(result: dict[str, Any]) -> float:
        return result["net_gain_ci_high"] - result["net_gain_ci_low"]

    by_row = compare_rules({"rule": rule}, twice, COSTS, "rule", seed=0)["rule"]
    by_customer = compare_rules({"rule": rule}, twice, COSTS, "rule", seed=0, customers=customers)
    assert width(by_customer["rule"]) > 1.25 * width(by_row)
