from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from structlog.testing import capture_logs

from offers.power import control_share_needed, measurement_plan, minimum_detectable_lift


def test_minimum_detectable_lift_of_two_even_arms() -> None:
    lift = minimum_detectable_lift(1000, 1000, 0.5)
    # d = (1.96 + 0.8416) * sqrt((0.5 + d)(0.5 - d) / 1000 + 0.25 / 1000), a little under the
    # equal-variance 0.06265
    assert lift == pytest.approx(0.0625, abs=2e-4)
    assert lift == pytest.approx(2.801585 * np.sqrt(((0.5 + lift) * (0.5 - lift) + 0.25) / 1000))
    assert minimum_detectable_lift(1000, 0, 0.5) is None
    # a smaller control group sees less
    assert minimum_detectable_lift(1800, 200, 0.5) > minimum_detectable_lift(1000, 1000, 0.5)


def test_a_lift_of_the_minimum_detectable_size_is_detected_four_times_in_five() -> None:
    rng = np.random.default_rng(0)
    n_treated, n_control, retention = 900, 300, 0.7
    lift = minimum_detectable_lift(n_treated, n_control, retention)
    assert lift is not None
    trials = 4000
    kept_t = rng.binomial(n_treated, retention + lift, trials) / n_treated
    kept_c = rng.binomial(n_control, retention, trials) / n_control
    standard_error = np.sqrt(kept_t * (1 - kept_t) / n_treated + kept_c * (1 - kept_c) / n_control)
    detected = np.abs(kept_t - kept_c) / standard_error > 1.959964
    assert detected.mean() == pytest.approx(0.8, abs=0.03)


def test_the_control_share_needed_makes_the_lift_just_detectable() -> None:
    share = control_share_needed(2000, 0.75, 0.06)
    assert share is not None and 0 < share < 0.5
    n_control = 2000 * share
    assert minimum_detectable_lift(2000 - n_control, n_control, 0.75) == pytest.approx(0.06)
    # too small a lift for even an even split of 2000 customers; nothing to detect
    assert control_share_needed(2000, 0.75, 0.01) is None
    assert control_share_needed(2000, 0.75, 0.0) is None
    # a rate already at 1 cannot rise
    assert minimum_detectable_lift(100, 100, 1.0) is None


def _targets(n_treated: int, n_control: int, uplift: float) -> pd.DataFrame:
    groups = ["treatment"] * n_treated + ["control"] * n_control + ["none"] * 50
    picked = n_treated + n_control
    return pd.DataFrame(
        {
            "group": groups,
            "churn_probability": [0.25] * picked + [0.9] * 50,
            "uplift": [uplift] * picked + [0.0] * 50,
            "offer_id": (["discount_10", "bonus_points"] * picked)[:picked] + [""] * 50,
        }
    )


def test_measurement_plan_warns_when_the_control_group_cannot_confirm_the_lift() -> None:
    with capture_logs() as logs:
        plan = measurement_plan(_targets(900, 100, uplift=0.05), control_share=0.1)
    assert (plan["treatment"], plan["control"]) == (900, 100)
    assert plan["retention_without_offer"] == pytest.approx(0.75)
    assert plan["predicted_lift"] == pytest.approx(0.05)
    assert plan["minimum_detectable_lift"] == pytest.approx(minimum_detectable_lift(900, 100, 0.75))
    assert plan["can_confirm_predicted_lift"] is False
    assert plan["control_share_needed"] == pytest.approx(control_share_needed(1000, 0.75, 0.05))
    assert [log["event"] for log in logs] == [
        "the control group is too small to confirm the predicted lift"
    ]

    with capture_logs() as logs:
        plan = measurement_plan(_targets(600, 400, uplift=0.12), control_share=0.4)
    assert plan["can_confirm_predicted_lift"] is True
    assert logs == []


def test_the_plan_also_sizes_the_control_group_for_the_lift_held_out_campaigns_measured() -> None:
    """Half the picks get each offer; free_shipping is not sent, so its figure must not count."""
    targets = _targets(9000, 1000, uplift=0.05)
    measured = {"discount_10": 0.05, "bonus_points": 0.01, "free_shipping": -0.5}

    plan = measurement_plan(targets, control_share=0.1, held_out_lift=measured)

    # 9,000 against 1,000 at 75% detect 4.02 points: the predicted 5 yes, the measured 3 no
    assert plan["can_confirm_predicted_lift"] is True
    assert plan["held_out_lift"] == pytest.approx(0.03)
    assert plan["can_confirm_held_out_lift"] is False
    assert plan["control_share_needed_for_held_out_lift"] == pytest.approx(
        control_share_needed(10000, 0.75, 0.03)
    )
    assert plan["control_share_needed_for_held_out_lift"] > 3 * plan["control_share_needed"]


def test_a_held_out_lift_that_is_missing_or_not_positive_sizes_nothing() -> None:
    targets = _targets(600, 400, uplift=0.12)

    unmeasured = measurement_plan(targets, 0.4, {"discount_10": None, "free_shipping": 0.1})
    only_one = measurement_plan(targets, 0.4, {"discount_10": -0.02, "bonus_points": None})
    without = measurement_plan(targets, 0.4)

    assert unmeasured["held_out_lift"] is None
    assert unmeasured["can_confirm_held_out_lift"] is None
    assert unmeasured["control_share_needed_for_held_out_lift"] is None
    assert only_one["held_out_lift"] == pytest.approx(-0.02)
    assert only_one["can_confirm_held_out_lift"] is False
    assert only_one["control_share_needed_for_held_out_lift"] is None
    assert without["held_out_lift"] is None


def test_an_empty_or_too_small_arm_detects_nothing() -> None:
    """None when an arm is empty, and when no rise up to a rate of 1 would be enough."""
    assert minimum_detectable_lift(0, 1000, 0.5) is None
    assert minimum_detectable_lift(1000, 0, 0.5) is None
    # 5 against 5 at 90%: even a rise to 100% is within the noise
    assert minimum_detectable_lift(5, 5, 0.9) is None


def test_a_large_campaign_needs_only_a_sliver_of_control() -> None:
    share = control_share_needed(10_000_000, 0.5, 0.05)
    assert share is not None and 1e-6 < share < 1e-3
    n_control = 10_000_000 * share
    assert minimum_detectable_lift(10_000_000 - n_control, n_control, 0.5) == pytest.approx(0.05)
    # so large that the smallest share the search tries already detects the lift
    assert control_share_needed(100_000_000, 0.5, 0.45) == pytest.approx(1e-6)


def test_a_plan_with_nobody_picked_counts_empty_arms() -> None:
    targets = _targets(0, 0, uplift=0.05)

    assert measurement_plan(targets, control_share=0.1) == {"treatment": 0, "control": 0}


def test_a_plan_without_a_control_group_warns_that_nothing_can_be_confirmed() -> None:
    """``offers.control_share`` may be 0: no lift is then detectable, which the plan says."""
    targets = _targets(1000, 0, uplift=0.05)

    with capture_logs() as logs:
        plan = measurement_plan(targets, control_share=0.0, held_out_lift={"discount_10": 0.2})

    assert plan["minimum_detectable_lift"] is None
    assert plan["can_confirm_predicted_lift"] is False
    assert plan["can_confirm_held_out_lift"] is False
    assert [(log["event"], log["minimum_detectable_lift"]) for log in logs] == [
        ("the control group is too small to confirm the predicted lift", None)
    ]


def test_a_held_out_lift_above_the_detectable_one_can_be_confirmed() -> None:
    targets = _targets(600, 400, uplift=0.12)

    plan = measurement_plan(targets, 0.4, {"discount_10": 0.2, "bonus_points": 0.1})

    assert plan["held_out_lift"] == pytest.approx(0.15)
    assert plan["held_out_lift"] > plan["minimum_detectable_lift"]
    assert plan["can_confirm_held_out_lift"] is True
