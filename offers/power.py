"""Can the campaign's control group confirm the lift the policy expects? A power calculation.

"Start small, test, then roll out" only works if the test can see the effect. The campaign
report compares treatment and control retention with a two-sided 95% interval; with ``n_t``
treated customers retained at ``p + d`` and ``n_c`` control customers retained at ``p``, the
comparison detects a lift ``d`` with probability ``power`` when (normal approximation)

    d = (z_{1 - alpha/2} + z_{power}) × sqrt((p + d)(1 - p - d) / n_t + p (1 - p) / n_c)

The smallest such ``d`` is the minimum detectable lift (solved by fixed-point iteration from the
equal-variance value). Planning a campaign, the stage compares it with the lift the policy
predicts for the customers it picks, and with the lift the held-out campaigns measured where the
policy would send its offers, and says which ``offers.control_share`` would make each meet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from scipy import optimize, stats

from core.logging import get_logger

_log = get_logger(__name__)

ALPHA = 0.05
POWER = 0.8
_ITERATIONS = 50
_SMALLEST_SHARE = 1e-6


def minimum_detectable_lift(
    n_treated: float,
    n_control: float,
    baseline_rate: float,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float | None:
    """Smallest rise of the retention rate above ``baseline_rate`` that the campaign detects
    with ``power``. None when an arm is empty, when no rise up to a rate of 1 is enough, or at a
    baseline of exactly 0 or 1, where the normal approximation says nothing."""
    if n_treated <= 0 or n_control <= 0 or not 0.0 < baseline_rate < 1.0:
        return None
    z = _z_total(alpha, power)
    control_variance = baseline_rate * (1.0 - baseline_rate) / n_control
    lift = z * math.sqrt(baseline_rate * (1.0 - baseline_rate) / n_treated + control_variance)
    for _ in range(_ITERATIONS):
        treated = min(baseline_rate + lift, 1.0)
        updated = z * math.sqrt(treated * (1.0 - treated) / n_treated + control_variance)
        if abs(updated - lift) < 1e-12:
            break
        lift = updated
    return lift if baseline_rate + lift <= 1.0 else None


def control_share_needed(
    n_picked: int,
    baseline_rate: float,
    lift: float,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float | None:
    """The smallest control share of ``n_picked`` customers whose campaign detects ``lift``; None
    when ``lift`` is not positive or when no share up to an even split is enough."""
    if lift <= 0 or n_picked <= 0:
        return None

    def shortfall(share: float) -> float:
        detectable = minimum_detectable_lift(
            n_picked * (1.0 - share), n_picked * share, baseline_rate, alpha, power
        )
        return math.inf if detectable is None else detectable - lift

    if shortfall(0.5) > 0:
        return None
    if shortfall(_SMALLEST_SHARE) <= 0:
        return _SMALLEST_SHARE
    return float(optimize.brentq(shortfall, _SMALLEST_SHARE, 0.5, xtol=1e-9))


def measurement_plan(
    targets: pd.DataFrame,
    control_share: float,
    held_out_lift: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """Can the campaign of ``targets`` (``offers.targets.target_frame``) confirm its lift?
    Retention without an offer is the picked customers' mean ``1 - churn_probability``, the
    predicted lift their mean ``uplift``. Logs a warning when the control group is too small.

    ``held_out_lift`` is, per offer, the lift the held-out campaigns measured among the customers
    the policy would send it (``held_out.uplift_calibration``). Picking the largest predicted
    gains also picks the largest overestimates, so the prediction plans too small a control
    group; the plan also sizes it for the measured lift, averaged over the offers as the campaign
    sends them (offers nobody measured left out).
    """
    treated = int((targets["group"] == "treatment").sum())
    control = int((targets["group"] == "control").sum())
    picked = targets[targets["group"] != "none"]
    if picked.empty:
        return {"treatment": 0, "control": 0}
    baseline = float(1.0 - picked["churn_probability"].mean())
    predicted = float(picked["uplift"].mean())
    detectable = minimum_detectable_lift(treated, control, baseline)
    needed = control_share_needed(len(picked), baseline, predicted)
    confirms = detectable is not None and predicted >= detectable
    if not confirms:
        _log.warning(
            "the control group is too small to confirm the predicted lift",
            control=control,
            treatment=treated,
            predicted_lift=round(predicted, 4),
            minimum_detectable_lift=None if detectable is None else round(detectable, 4),
            control_share=control_share,
            control_share_needed=None if needed is None else round(needed, 3),
        )
    measured = _sent_mean(picked["offer_id"], held_out_lift or {})
    return {
        "treatment": treated,
        "control": control,
        "retention_without_offer": baseline,
        "predicted_lift": predicted,
        "minimum_detectable_lift": detectable,
        "alpha": ALPHA,
        "power": POWER,
        "can_confirm_predicted_lift": confirms,
        "control_share": control_share,
        "control_share_needed": needed,
        "held_out_lift": measured,
        "can_confirm_held_out_lift": (
            None if measured is None else detectable is not None and measured >= detectable
        ),
        "control_share_needed_for_held_out_lift": (
            None if measured is None else control_share_needed(len(picked), baseline, measured)
        ),
    }


def _sent_mean(offers: pd.Series, lift: Mapping[str, float | None]) -> float | None:
    """Mean of ``lift`` over the picked customers' offers; None when no sent offer has one."""
    known = offers[offers.map(lambda offer: lift.get(offer) is not None)]
    if known.empty:
        return None
    return float(known.map(lift).astype(float).mean())


def _z_total(alpha: float, power: float) -> float:
    return float(stats.norm.ppf(1.0 - alpha / 2.0) + stats.norm.ppf(power))
