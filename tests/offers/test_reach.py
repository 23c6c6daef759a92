"""Reach-gated uplift on a toy campaign where a known share of customers has already left."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offers.campaigns import CampaignSplit
from offers.fitting import evaluate_uplift
from offers.hazard import HazardRatioUplift
from offers.reach import ReachDataError, ReachModel
from offers.uplift import make_learner
from tests.offers.frames import TOY_COLUMNS, offers_config, rule_rows

OFFERS = ["cheap", "members", "de_only"]
SMALL_TREES = {"n_estimators": 60, "max_depth": 2, "learning_rate": 0.1}
ALIVE_P0 = 0.4
CHEAP_THETA = -0.8


def gone_campaign(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Rows with x2 > 0.5 have already left: they churn whatever they get and never redeem.

    The others churn with probability 0.4 without an offer; ``cheap`` multiplies their hazard
    by exp(-0.8), the other offers do nothing; every live treated customer redeems with
    probability 0.4. The churn score is right for both groups (0.99 and 0.4); what it cannot
    say is that the gone are beyond any offer's reach.
    Returns rows (with ``redeemed``), the churn score and the true uplift (rows × offers).
    """
    rng = np.random.default_rng(seed)
    rows = rule_rows(n, seed)
    gone = rows["x2"].to_numpy() > 0.5
    arm = rng.choice(np.array(["control", *OFFERS], dtype=object), n)
    p_cheap = 1.0 - (1.0 - ALIVE_P0) ** np.exp(CHEAP_THETA)
    p_arm = np.where(gone, 1.0, np.where(arm == "cheap", p_cheap, ALIVE_P0))
    treated = arm != "control"
    rows["treatment_offer"] = np.where(treated, arm, None)
    rows["churned"] = rng.random(n) < p_arm
    rows["redeemed"] = treated & ~gone & (rng.random(n) < 0.4)
    score = np.where(gone, 0.99, ALIVE_P0)
    uplift = np.zeros((n, len(OFFERS)))
    uplift[:, 0] = np.where(gone, 0.0, ALIVE_P0 - p_cheap)
    return rows, score, uplift


@pytest.fixture(scope="module")
def fitted() -> object:
    rows, score, _ = gone_campaign(12_000, seed=3)
    model = make_learner("reach_hazard", OFFERS, TOY_COLUMNS, SMALL_TREES, 0, 1.0)
    return model.fit(  # type: ignore[call-arg]
        rows, rows["treatment_offer"], rows["churned"], score, redeemed=rows["redeemed"]
    )


def test_reach_model_learns_who_can_redeem() -> None:
    rows, _, _ = gone_campaign(8_000, seed=4)
    reach = ReachModel(OFFERS, TOY_COLUMNS, SMALL_TREES).fit(
        rows, rows["treatment_offer"], rows["redeemed"]
    )
    test_rows, _, _ = gone_campaign(2_000, seed=5)
    predicted = reach.predict(test_rows)
    gone = test_rows["x2"].to_numpy() > 0.5
    assert predicted.shape == (2_000, 3)
    assert predicted[gone].mean() < 0.03
    assert predicted[~gone].mean() == pytest.approx(0.4, abs=0.05)


def test_gone_customers_get_no_uplift_and_live_ones_the_true_one(fitted: object) -> None:
    test_rows, score, true_uplift = gone_campaign(3_000, seed=6)
    predicted = fitted.predict(test_rows, score)  # type: ignore[attr-defined]
    gone = test_rows["x2"].to_numpy() > 0.5
    assert np.abs(predicted[gone]).mean() < 0.01  # trees blur the x2 = 0.5 border a little
    assert predicted[~gone, 0].mean() == pytest.approx(true_uplift[~gone, 0].mean(), abs=0.04)
    assert np.abs(predicted[~gone, 1:].mean(axis=0)).max() < 0.04


def test_plain_hazard_learner_credits_the_gone() -> None:
    """Why the gate: without it the effect is spread over everyone the score calls risky."""
    rows, score, _ = gone_campaign(12_000, seed=3)
    model = HazardRatioUplift(OFFERS, TOY_COLUMNS, 1.0, effect_features=[])
    model.fit(rows, rows["treatment_offer"], rows["churned"], score)
    test_rows, test_score, _ = gone_campaign(3_000, seed=6)
    gone = test_rows["x2"].to_numpy() > 0.5
    assert model.predict(test_rows, test_score)[gone, 0].mean() > 0.02


def test_reach_needs_redemptions() -> None:
    rows, score, _ = gone_campaign(2_000, seed=7)
    with pytest.raises(ReachDataError, match="redemptions"):
        ReachModel(OFFERS, TOY_COLUMNS).fit(
            rows, rows["treatment_offer"], np.zeros(len(rows), dtype=bool)
        )
    learner = make_learner("reach_hazard", OFFERS, TOY_COLUMNS)
    with pytest.raises(ReachDataError, match="redeemed_ts"):
        learner.fit(rows, rows["treatment_offer"], rows["churned"], score)


def test_effect_features_limit_the_effect_to_named_inputs() -> None:
    rows, score, _ = gone_campaign(4_000, seed=8)
    model = HazardRatioUplift(OFFERS, TOY_COLUMNS, 1.0, effect_features=["x1"])
    model.fit(rows, rows["treatment_offer"], rows["churned"], score)
    assert model.coefficients_ is not None
    x2_column = 1 + TOY_COLUMNS.numeric.index("x2")
    assert np.all(model.coefficients_[1:, x2_column] == 0.0)  # x2 only in the baseline block
    assert model.coefficients_[0, x2_column] != 0.0
    with pytest.raises(ValueError, match="not_a_feature"):
        HazardRatioUplift(OFFERS, TOY_COLUMNS, effect_features=["not_a_feature"]).fit(
            rows, rows["treatment_offer"], rows["churned"], score
        )


def test_no_offer_baseline_matches_the_control_arm() -> None:
    """Fitted jointly with gated effects, the baseline drifts off the control arm's churn rate
    (and the drift reads as uplift); fitted on the control rows it matches them."""
    rows, _, _ = gone_campaign(12_000, seed=9)
    score = np.full(len(rows), 0.6)  # a score that knows nothing: the baseline must correct it
    gate = np.repeat((rows["x2"].to_numpy() <= 0.5)[:, None].astype(float), 3, axis=1)
    control = rows["treatment_offer"].isna().to_numpy()
    observed = rows["churned"][control].mean()
    fitted = {}
    for baseline in ("joint", "control"):
        model = HazardRatioUplift(OFFERS, TOY_COLUMNS, 1.0, [], baseline)  # type: ignore[arg-type]
        model.fit(rows, rows["treatment_offer"], rows["churned"], score, gate=gate)
        fitted[baseline] = model.no_offer_probability(rows[control], score[control]).mean()
    assert fitted["joint"] > observed + 0.05  # 0.70 against 0.58 observed
    assert fitted["control"] == pytest.approx(observed, abs=0.015)
    uplift = model.predict(rows, score, gate=gate)
    assert np.abs(uplift[gate[:, 0] == 0.0]).max() == 0.0  # no reach, no effect


def test_a_log_too_small_for_the_reach_model_skips_that_learner_only() -> None:
    """A young offers log (a handful of redemptions) still gets a policy from the learners it
    supports; the skipped one is named with the reason, and naming only it fails."""
    rows, score, _ = gone_campaign(600, seed=7)
    rows["redeemed"] = False
    rows.loc[rows.index[:5], "redeemed"] = rows["treatment_offer"].notna()[:5]
    rows["churn_probability"] = score
    split = CampaignSplit(rows.iloc[:400], rows.iloc[400:], ["A"], ["B"], observed=rows)
    config = offers_config(learners=["t_learner", "reach_hazard"], xgboost=SMALL_TREES)

    evaluation = evaluate_uplift(split, score[400:], TOY_COLUMNS, config, seed=0)

    assert evaluation.best_learner == "t_learner"
    assert set(evaluation.skipped) == {"reach_hazard"}
    assert "redemptions" in evaluation.skipped["reach_hazard"]
    assert all("reach_hazard" not in per_offer for per_offer in evaluation.metrics.values())
    with pytest.raises(ReachDataError, match="no uplift learner"):
        evaluate_uplift(
            split, score[400:], TOY_COLUMNS, offers_config(learners=["reach_hazard"]), seed=0
        )
