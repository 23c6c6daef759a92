from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest

from core.config import GenerateConfig, HazardConfig
from synthetic.simulate import CutoffSnapshot
from synthetic.state import NEVER_US
from synthetic.timeline import DAY_US, Timeline, date_to_us
from synthetic.traits import draw_traits
from synthetic.truth import NOT_KNOWN, cutoff_truth
from tests.synthetic.conftest import World

OFFERS = ["discount_10", "free_shipping", "bonus_points"]


# --- the definition, on hand-built customers ------------------------------------------------


def _hand_built_truth(cutoff: dt.date) -> tuple:
    """Four customers, a flat hazard of 2% a week, no seasonality; offers at -0.5 / 0 / +0.5.

    The recency coefficient is 0 so the order gap's drift plays no part here.
    """
    config = GenerateConfig(hazard=HazardConfig(seasonality=0.0, recency=0.0))
    timeline = Timeline.from_config(config)
    cutoff_us = date_to_us(cutoff)
    traits = draw_traits(np.random.default_rng(0), 4, config, timeline)
    traits = dataclasses.replace(
        traits,
        signup_us=np.array(
            [cutoff_us - 100 * DAY_US, cutoff_us - 50 * DAY_US, cutoff_us - 40 * DAY_US, cutoff_us]
        ),
    )
    churn_us = np.array([NEVER_US, cutoff_us + 10 * DAY_US, cutoff_us - DAY_US, NEVER_US])
    week = timeline.week_of(cutoff_us)
    snapshot = CutoffSnapshot(
        cutoff_us=cutoff_us,
        week=week,
        state_log_hazard=np.full(4, np.log(0.02)),
        weeks_since_order=np.zeros(4),
        order_rate=np.zeros(4),
        offer_effect=np.array([0.0, -1.0, 0.0, 0.0]),
        offer_until_week=np.array([0, week + 1, 0, 0], dtype=np.int32),
    )
    effects = np.tile([-0.5, 0.0, 0.5], (4, 1))
    return cutoff_truth(snapshot, traits, churn_us, effects, config, timeline), config


def test_truth_is_the_frozen_hazard_over_the_horizon() -> None:
    cutoff = dt.date(2024, 6, 30)  # 78 whole weeks after the start: the cutoff opens a week
    truth, config = _hand_built_truth(cutoff)
    horizon_weeks = config.truth.horizon_days / 7

    # Signed up strictly before the cutoff and not churned by it: customers 0 and 1 only.
    assert truth.customers.tolist() == [0, 1]
    assert truth.p_no_offer[0] == pytest.approx(1 - np.exp(-0.02 * horizon_weeks))
    # Customer 1 is still under an earlier offer (log HR -1) for the cutoff's week.
    assert truth.p_no_offer[1] == pytest.approx(
        1 - np.exp(-0.02 * (np.exp(-1.0) + (horizon_weeks - 1)))
    )
    # A new offer replaces the old one for effect_days (= the horizon here).
    expected = [1 - np.exp(-0.02 * np.exp(effect) * horizon_weeks) for effect in (-0.5, 0, 0.5)]
    np.testing.assert_allclose(truth.p_offer[0], expected)
    np.testing.assert_allclose(truth.p_offer[1], expected)
    assert truth.outcome_known
    assert truth.churned_within_horizon.tolist() == [0, 1]


def test_outcome_is_unknown_when_the_horizon_runs_past_the_data() -> None:
    truth, _ = _hand_built_truth(dt.date(2024, 12, 1))
    assert not truth.outcome_known
    assert set(truth.churned_within_horizon.tolist()) == {NOT_KNOWN}


def test_the_order_gap_runs_on_when_the_customer_does_not_order() -> None:
    """With no orders expected, the recency term grows week by week over the horizon."""
    recency = 0.3
    config = GenerateConfig(hazard=HazardConfig(seasonality=0.0, recency=recency))
    timeline = Timeline.from_config(config)
    cutoff_us = date_to_us(dt.date(2024, 6, 30))  # opens week 78
    traits = draw_traits(np.random.default_rng(0), 2, config, timeline)
    traits = dataclasses.replace(traits, signup_us=np.full(2, cutoff_us - 100 * DAY_US))
    snapshot = CutoffSnapshot(
        cutoff_us=cutoff_us,
        week=timeline.week_of(cutoff_us),
        state_log_hazard=np.full(2, np.log(0.02)),
        weeks_since_order=np.array([3.0, 3.0]),
        order_rate=np.array([0.0, 5.0]),
        offer_effect=np.zeros(2),
        offer_until_week=np.zeros(2, dtype=np.int32),
    )
    truth = cutoff_truth(snapshot, traits, np.full(2, NEVER_US), np.zeros((2, 3)), config, timeline)
    # 90 days = 12 full weeks and 6/7 of a 13th, starting exactly at a week boundary.
    overlap = [1.0] * 12 + [6 / 7]
    growing = sum(((4.0 + weeks) / 4.0) ** recency * share for weeks, share in enumerate(overlap))
    assert truth.p_no_offer[0] == pytest.approx(1 - np.exp(-0.02 * growing))
    # A customer ordering several times a week keeps a gap of about half a week.
    assert truth.p_no_offer[1] < 1 - np.exp(-0.02 * sum(overlap))


# --- the generated truth ----------------------------------------------------------------------


def test_truth_rows_are_exactly_the_customers_alive_at_each_cutoff(
    world: World, tables: dict[str, pd.DataFrame]
) -> None:
    truth = tables["truth_probabilities"]
    customers = tables["customers"].merge(tables["truth_customers"], on="customer_id")
    cutoffs = sorted(truth["cutoff_date"].unique())
    assert cutoffs[-1] == world.config.end_date + dt.timedelta(days=1)
    assert all((later - earlier).days == 30 for earlier, later in itertools.pairwise(cutoffs))
    assert (cutoffs[0] - world.config.start_date).days >= world.config.truth.min_history_days

    for cutoff in cutoffs[::5]:
        cutoff_ts = pd.Timestamp(cutoff)
        alive = customers[
            (pd.to_datetime(customers["signup_date"]) < cutoff_ts)
            & (customers["churn_ts"].isna() | (customers["churn_ts"] >= cutoff_ts))
        ]
        rows = truth[truth["cutoff_date"] == cutoff]
        assert sorted(rows["customer_id"]) == sorted(alive["customer_id"])


def test_realised_outcome_matches_the_churn_time(
    world: World, tables: dict[str, pd.DataFrame]
) -> None:
    truth = tables["truth_probabilities"].merge(
        tables["truth_customers"][["customer_id", "churn_ts"]], on="customer_id"
    )
    cutoff_ts = pd.to_datetime(truth["cutoff_date"])
    horizon_end = cutoff_ts + pd.Timedelta(days=world.config.truth.horizon_days)
    beyond_data = horizon_end > pd.Timestamp(world.config.end_date) + pd.Timedelta(days=1)
    assert truth.loc[beyond_data, "churned_within_horizon"].isna().all()
    known = truth[~beyond_data]
    assert known["churned_within_horizon"].notna().all()
    expected = known["churn_ts"].notna() & (known["churn_ts"] < horizon_end[~beyond_data])
    assert (known["churned_within_horizon"].astype(bool) == expected).all()


def test_probabilities_are_calibrated_against_what_happened(
    tables: dict[str, pd.DataFrame],
) -> None:
    known = tables["truth_probabilities"].dropna(subset=["churned_within_horizon"])
    churned = known["churned_within_horizon"].astype(float)
    assert abs(churned.mean() - known["p_churn_no_offer"].mean()) < 0.04
    decile = pd.qcut(known["p_churn_no_offer"], 10, labels=False)
    by_decile = churned.groupby(decile).mean()
    assert by_decile.iloc[-1] > 4 * by_decile.iloc[0]
    assert by_decile.is_monotonic_increasing or by_decile.diff().min() > -0.03


def _last_before_cutoff(
    frame: pd.DataFrame, truth: pd.DataFrame, ts_column: str, lookback_days: int | None = None
) -> pd.DataFrame:
    """For each truth row, the latest ``frame`` row of that customer strictly before the cutoff."""
    pieces = []
    for cutoff in sorted(truth["cutoff_date"].unique()):
        cutoff_ts = pd.Timestamp(cutoff)
        window = frame[frame[ts_column] < cutoff_ts]
        if lookback_days is not None:
            window = window[window[ts_column] >= cutoff_ts - pd.Timedelta(days=lookback_days)]
        latest = window.sort_values(ts_column).groupby("customer_id").tail(1)
        pieces.append(latest.assign(cutoff_date=cutoff))
    return truth.merge(pd.concat(pieces), on=["customer_id", "cutoff_date"])


def test_slow_support_goes_with_higher_true_churn_risk(tables: dict[str, pd.DataFrame]) -> None:
    tickets = tables["support_tickets"]
    response_hours = (tickets["first_response_ts"] - tickets["opened_ts"]).dt.total_seconds() / 3600
    tickets = tickets.assign(slow=response_hours > 48)
    recent = _last_before_cutoff(tickets, tables["truth_probabilities"], "opened_ts", 42)
    p_slow = recent.loc[recent["slow"], "p_churn_no_offer"]
    p_fast = recent.loc[~recent["slow"], "p_churn_no_offer"]
    assert len(p_slow) > 100
    assert p_slow.mean() > p_fast.mean() + 0.04


def test_low_nps_goes_with_higher_true_churn_risk(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["events"]
    nps = events[events["event_type"] == "survey_nps"]
    latest = _last_before_cutoff(nps, tables["truth_probabilities"], "ts")
    detractors = latest.loc[latest["value"] <= 6, "p_churn_no_offer"]
    promoters = latest.loc[latest["value"] >= 9, "p_churn_no_offer"]
    assert len(detractors) > 200 and len(promoters) > 200
    assert detractors.mean() > 1.5 * promoters.mean()


def _uplift(truth: pd.DataFrame, offer: str) -> pd.Series:
    return truth["p_churn_no_offer"] - truth[f"p_churn_{offer}"]


def test_offer_effects_differ_by_customer_and_some_backfire(
    tables: dict[str, pd.DataFrame],
) -> None:
    truth = tables["truth_probabilities"]
    for offer in OFFERS:
        uplift = _uplift(truth, offer)
        assert uplift.std() > 0.02, offer
        backfires = (uplift < 0).mean()
        assert 0.05 < backfires < 0.6, offer
    all_backfire = np.all([_uplift(truth, offer) < 0 for offer in OFFERS], axis=0)
    assert all_backfire.mean() > 0.03


def test_each_offer_helps_the_customers_it_is_designed_for(
    tables: dict[str, pd.DataFrame],
) -> None:
    truth = tables["truth_probabilities"].merge(tables["truth_customers"], on="customer_id")
    truth = truth.merge(tables["customers"][["customer_id", "loyalty_member"]], on="customer_id")

    def by_quartile(offer: str, trait: str) -> pd.Series:
        return _uplift(truth, offer).groupby(pd.qcut(truth[trait], 4, labels=False)).mean()

    discount = by_quartile("discount_10", "price_sensitivity")
    assert discount.iloc[-1] > discount.iloc[0] + 0.03
    shipping = by_quartile("free_shipping", "frequent_small_basket")
    assert shipping.iloc[-1] > shipping.iloc[0] + 0.03
    bonus = _uplift(truth, "bonus_points").groupby(truth["loyalty_member"]).mean()
    assert bonus[True] > bonus[False] + 0.03


def test_the_riskiest_customers_are_not_the_best_targets(tables: dict[str, pd.DataFrame]) -> None:
    truth = tables["truth_probabilities"]
    best_uplift = pd.concat([_uplift(truth, offer) for offer in OFFERS], axis=1).max(axis=1)
    n_top = len(truth) // 10
    by_risk = best_uplift[truth["p_churn_no_offer"].rank(ascending=False, method="first") <= n_top]
    by_uplift = best_uplift.nlargest(n_top)
    assert by_uplift.sum() > 1.25 * by_risk.sum()
    assert (by_risk < 0).mean() > 0.02  # some of the riskiest are pushed out by any offer
