"""The array entry points the scoring service calls give the batch path's numbers exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.candidates import model_inputs, preprocess_rows
from offers.reach import ReachHazardUplift
from offers.rules import (
    COUNTRY,
    DAYS_SINCE_OFFER,
    MEMBER,
    OFFERS_365D,
    TENURE,
    UNSUBSCRIBED,
    contact_block,
    contact_block_values,
    offer_eligible,
    offer_eligible_values,
)
from offers.uplift import make_learner
from offers.value import RECURRING_REVENUE, BgNbdValue, rfm_arrays, rfm_summary
from tests.offers.frames import TOY_COLUMNS, offers_config, rule_rows
from tests.offers.test_reach import OFFERS, SMALL_TREES, gone_campaign


@pytest.fixture(scope="module")
def fitted() -> ReachHazardUplift:
    rows, score, _ = gone_campaign(6_000, seed=11)
    model = make_learner("reach_hazard", OFFERS, TOY_COLUMNS, SMALL_TREES, 0, 1.0)
    return model.fit(  # type: ignore[call-arg,return-value]
        rows, rows["treatment_offer"], rows["churned"], score, redeemed=rows["redeemed"]
    )


def test_reach_scores_every_offer_in_one_call_with_the_per_offer_numbers(
    fitted: ReachHazardUplift,
) -> None:
    rows, _, _ = gone_campaign(2_000, seed=12)
    reach = fitted.reach
    assert reach.preprocessor_ is not None and reach.classifier_ is not None
    matrix = preprocess_rows(reach.preprocessor_, model_inputs(rows, reach.columns))
    per_offer = np.column_stack(
        [
            reach.classifier_.predict_proba(reach._with_offer(matrix, np.full(len(matrix), k)))[
                :, 1
            ]
            for k in range(len(OFFERS))
        ]
    )

    assert np.array_equal(reach.predict(rows), per_offer)
    assert np.array_equal(reach.predict_inputs(matrix[:7]), per_offer[:7])
    for i in range(5):  # one row at a time, as a request
        assert np.array_equal(reach.predict(rows.iloc[[i]]), per_offer[[i]])


def test_uplift_from_prebuilt_inputs_equals_predict(fitted: ReachHazardUplift) -> None:
    rows, score, _ = gone_campaign(1_500, seed=13)
    hazard, reach = fitted.hazard, fitted.reach
    assert hazard.preprocessor_ is not None and reach.preprocessor_ is not None
    design = preprocess_rows(hazard.preprocessor_, model_inputs(rows, hazard.columns))
    reach_rows = preprocess_rows(reach.preprocessor_, model_inputs(rows, reach.columns))
    expected = fitted.predict(rows, score)

    assert np.array_equal(fitted.predict_inputs(reach_rows, design, score), expected)
    calls: list[int] = []

    def scorer(stacked: np.ndarray) -> np.ndarray:
        calls.append(len(stacked))
        assert reach.classifier_ is not None
        return reach.classifier_.predict_proba(stacked)[:, 1]

    assert np.array_equal(fitted.predict_inputs(reach_rows, design, score, scorer), expected)
    assert calls == [len(rows) * len(OFFERS)]


def test_rules_on_arrays_equal_the_frame_rules() -> None:
    rows = rule_rows(3_000, seed=21)
    rows.loc[rows.index[:40], [TENURE, MEMBER, COUNTRY, OFFERS_365D, DAYS_SINCE_OFFER]] = None
    config = offers_config()
    numbers = {name: rows[name].astype("float64").to_numpy() for name in NUMERIC}

    blocked = contact_block_values(
        ~np.isnan(numbers[UNSUBSCRIBED]),
        numbers[DAYS_SINCE_OFFER],
        np.nan_to_num(numbers[OFFERS_365D], nan=0.0),
        config,
    )
    assert blocked.tolist() == contact_block(rows, config).tolist()
    assert len(set(blocked)) >= 3  # several rules fire on these rows
    for offer in config.catalog:
        countries = set(offer.countries)
        eligible = offer_eligible_values(
            numbers[TENURE],
            np.nan_to_num(numbers[MEMBER], nan=0.0),
            np.array([value in countries for value in rows[COUNTRY]], dtype=bool),
            offer,
        )
        assert np.array_equal(eligible, offer_eligible(rows, offer))


NUMERIC = (TENURE, MEMBER, UNSUBSCRIBED, DAYS_SINCE_OFFER, OFFERS_365D)


@pytest.mark.parametrize("subscriptions", [False, True])
def test_value_from_rfm_arrays_equals_predict(subscriptions: bool) -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    features = pd.DataFrame(
        {
            "rfm_orders_365d": rng.poisson(3, n).astype(float),
            "lifecycle_days_since_first_order": rng.uniform(10, 900, n),
            "rfm_days_since_last_order": rng.uniform(0, 400, n),
            "rfm_avg_basket_365d": rng.gamma(2.0, 30.0, n),
        }
    )
    features.iloc[:50, 0] = np.nan
    features.iloc[50:100, 1] = np.nan
    features.iloc[100:150, 2] = np.nan
    features.iloc[150:200, 3] = np.nan
    mrr = None
    if subscriptions:  # a hybrid export: the value adds the running MRR (nulls as none)
        features[RECURRING_REVENUE] = rng.choice([0.0, 15.0, 30.0, np.nan], n)
        mrr = features[RECURRING_REVENUE].to_numpy()
    model = BgNbdValue(horizon_days=90, gross_margin=0.3).fit(features)
    summary = rfm_arrays(
        np.nan_to_num(features["rfm_orders_365d"].to_numpy(), nan=0.0),
        features["lifecycle_days_since_first_order"].to_numpy(),
        features["rfm_days_since_last_order"].to_numpy(),
        features["rfm_avg_basket_365d"].to_numpy(),
    )

    pd.testing.assert_frame_equal(pd.DataFrame(summary), rfm_summary(features), check_exact=True)
    assert model.recurring_ is subscriptions
    assert np.array_equal(
        model.predict_summary(summary["x"], summary["T"], summary["orders"], summary["m"], mrr),
        model.predict(features),
    )
