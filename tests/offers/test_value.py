from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.candidates import FeatureColumns
from offers.value import (
    DAYS_PER_MONTH,
    RECURRING_REVENUE,
    BgNbdValue,
    GradientBoostingValue,
    completed_orders,
    next_period_margin,
    next_period_subscription_margin,
    rfm_summary,
    value_metrics,
)


def test_next_period_margin_counts_completed_orders_in_the_horizon() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "B"],
            "order_ts": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-04-01", "2024-01-05"]),
            "amount": [10.0, 20.0, 40.0, 100.0],
            "status": ["completed", "completed", "completed", "returned"],
        }
    )
    keys = pd.DataFrame(
        {
            "customer_id": ["A", "B", "A"],
            "cutoff_date": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-05"]).date,
        }
    )

    margin = next_period_margin(orders, keys, horizon_days=90, gross_margin=0.5)

    # A from Jan 1: 10 + 20 (Apr 1 is day 91); B: returned only; A from Jan 5: 20 + 40
    assert margin.tolist() == [15.0, 0.0, 30.0]


def _features(
    orders_365: list[float], since_first: list[float], since_last: list[float], basket: list[float]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rfm_orders_365d": orders_365,
            "lifecycle_days_since_first_order": since_first,
            "rfm_days_since_last_order": since_last,
            "rfm_avg_basket_365d": basket,
        }
    )


def test_next_period_subscription_margin_pays_mrr_for_each_covered_day() -> None:
    subscriptions = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C"],
            "start_date": pd.to_datetime(["2023-06-01", "2024-02-01", "2024-03-01", "2023-01-01"]),
            "end_date": pd.to_datetime(["2024-01-15", None, None, "2024-01-09"]),
            "mrr": [DAYS_PER_MONTH, 2 * DAYS_PER_MONTH, 99.0, 99.0],
        }
    )
    keys = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "cutoff_date": pd.to_datetime(["2024-01-10"] * 4).date,
        }
    )

    margin = next_period_subscription_margin(subscriptions, keys, 30, gross_margin=0.5)

    # Window 2024-01-10 .. 02-08: A's first runs 01-10 .. 01-15 (6 days at 1 a day), its second
    # 02-01 .. 02-08 (8 days at 2 a day); B starts after it, C ended the day before it.
    assert margin.tolist() == pytest.approx([0.5 * (6 + 16), 0.0, 0.0, 0.0])


def test_rfm_summary_uses_the_first_order_as_origin_inside_the_window() -> None:
    summary = rfm_summary(
        _features([3, 5, 0], [70, 700, np.nan], [7, 14, np.nan], [20, 30, np.nan])
    )
    assert summary["x"].tolist() == [2, 5, 0]  # first order inside the window is the origin
    assert summary["T"].tolist() == pytest.approx([10.0, 365 / 7, 365 / 7])
    assert summary["t_x"].tolist() == pytest.approx([9.0, (365 - 14) / 7, 0.0])


def test_bg_nbd_recovers_purchase_rates_of_simulated_customers() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    rate = rng.gamma(2.0, 1 / 20.0, n)  # purchases per day, mean 0.1
    days = 365.0
    counts = rng.poisson(rate * days)
    last_gap = np.where(counts > 0, rng.exponential(1 / np.maximum(rate, 1e-6)), np.nan)
    features = _features(
        counts.astype(float),
        np.full(n, 800.0),
        np.minimum(last_gap, days),
        rng.gamma(5.0, 10.0, n),
    )
    model = BgNbdValue(horizon_days=90, gross_margin=1.0).fit(features)

    expected = model.predict(features)

    # heavier buyers are worth more, and the value is in the right range (rate * 90 * basket)
    assert pd.Series(expected).corr(pd.Series(rate), method="spearman") > 0.8
    assert np.median(expected) == pytest.approx(np.median(rate * 90 * 50), rel=0.5)


def test_value_metrics() -> None:
    metrics = value_metrics([0.0, 10.0], [2.0, 6.0])
    assert metrics["mae"] == pytest.approx(3.0)
    assert metrics["rmse"] == pytest.approx(np.sqrt(10.0))
    assert metrics["total_ratio"] == pytest.approx(0.8)


def test_without_any_spend_a_customer_is_worth_nothing_not_the_optimisers_start() -> None:
    features = _features([3.0, 1.0, 0.0], [200.0, 90.0, np.nan], [10.0, 40.0, np.nan], [0, 0, 0])

    value = BgNbdValue(horizon_days=90, gross_margin=0.3).fit(features).predict(features)

    assert value.tolist() == [0.0, 0.0, 0.0]


def test_expected_margin_by_hand_from_known_parameters() -> None:
    """Fader-Hardie's conditional expectations with the parameters set, so the unit of time (91
    days = 13 weeks) and the gross margin are pinned, not just the ranking."""
    model = BgNbdValue(horizon_days=91, gross_margin=0.3)
    model.params_ = {"r": 1.0, "alpha": 10.0, "a": 1.0, "b": 1.0, "p": 2.0, "q": 3.0, "v": 50.0}

    value = model.predict_summary(
        x=np.array([2.0, 0.0]),
        T=np.array([20.0, 52.0]),
        orders=np.array([3, 0]),
        m=np.array([40.0, 0.0]),
    )

    purchases = np.array([13 * (1 + 2) / (10 + 20), 13 * (1 + 0) / (10 + 52)])
    order_value = np.array([2 * (50 + 3 * 40) / (2 * 3 + 3 - 1), 2 * 50 / (3 - 1)])
    np.testing.assert_allclose(value, purchases * order_value * 0.3)


def test_with_subscriptions_bg_nbd_adds_the_running_mrr_for_the_whole_horizon() -> None:
    """A hybrid export (orders and subscriptions): a customer who stays keeps paying the MRR
    running at the cutoff, on top of the purchases BG/NBD predicts; no subscription adds 0."""
    features = _features([3.0, 1.0, 0.0], [200.0, 90.0, np.nan], [10.0, 40.0, np.nan], [40, 20, 0])
    orders_only = BgNbdValue(horizon_days=90, gross_margin=0.3).fit(features)
    hybrid = features.assign(**{RECURRING_REVENUE: [30.0, 0.0, np.nan]})

    model = BgNbdValue(horizon_days=90, gross_margin=0.3).fit(hybrid)

    assert model.recurring_ and not orders_only.recurring_
    assert model.params_ == orders_only.params_  # purchases are fitted on the orders alone
    added = model.predict(hybrid) - orders_only.predict(features)
    np.testing.assert_allclose(added, [0.3 * 30.0 * 90 / DAYS_PER_MONTH, 0.0, 0.0])
    summary = rfm_summary(hybrid)
    arrays = [summary[column].to_numpy() for column in ("x", "T", "orders", "m")]
    with pytest.raises(ValueError, match=RECURRING_REVENUE):
        model.predict_summary(*arrays)
    np.testing.assert_array_equal(
        model.predict_summary(*arrays, hybrid[RECURRING_REVENUE].to_numpy()), model.predict(hybrid)
    )


def test_gradient_boosting_value_leaves_out_a_column_without_values_in_its_rows() -> None:
    """The value model fits on the customers who stayed, so a feature can hold values overall and
    none among them (days since a subscription ended, when every stayer's still runs); scikit-
    learn's histogram binning fails on such a column, so the model leaves it out."""
    rng = np.random.default_rng(0)
    n = 400
    stayers = pd.DataFrame(
        {
            "spend": rng.gamma(2.0, 50.0, n),
            "days_since_end": np.nan,
            "plan": rng.choice(["basic", "plus"], n),
        }
    )
    columns = FeatureColumns(numeric=("spend", "days_since_end"), categorical=("plan",))
    margin = 0.3 * stayers["spend"]

    model = GradientBoostingValue(columns, seed=0).fit(stayers, margin)

    assert model.inputs_ == FeatureColumns(numeric=("spend",), categorical=("plan",))
    predicted = model.predict(stayers)
    assert pd.Series(predicted).corr(margin) > 0.95
    scored = stayers.assign(days_since_end=rng.uniform(0, 100, n))  # values at scoring time
    np.testing.assert_array_equal(model.predict(scored), predicted)


def test_an_order_without_a_status_counts_as_completed_as_in_the_features() -> None:
    """``status`` is optional: the reader fills an absent column with nulls, and the features
    (``features.rows.is_completed``) count those orders as purchases, so the value must too."""
    orders = pd.DataFrame(
        {
            "customer_id": ["A", "A", "B"],
            "order_ts": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]),
            "amount": [10.0, 20.0, 100.0],
            "status": pd.Series([None, "cancelled", None], dtype="string"),
        }
    )
    keys = pd.DataFrame(
        {"customer_id": ["A", "B"], "cutoff_date": pd.to_datetime(["2024-01-01"] * 2).date}
    )

    assert next_period_margin(orders, keys, 90, 1.0).tolist() == [10.0, 100.0]
    assert completed_orders(orders)["amount"].tolist() == [10.0, 100.0]
