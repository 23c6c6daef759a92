"""Customer value: the margin a customer brings over the next period if they stay.

The policy credits a saved customer with ``value_periods`` × the expected margin of the next
horizon given they stay. Two models compete on held-out spend (the latest labelled cutoff,
customers who stayed), both computed from the feature rows alone so the scoring service can use
the winner without the raw order history:

* ``gradient_boosting``: scikit-learn's histogram gradient boosting regressor of the realised
  next-horizon margin on every feature, fitted on the customers who stayed at earlier cutoffs;
* ``bg_nbd``: a probabilistic CLV model, BG/NBD (Fader, Hardie & Lee 2005) for purchase counts
  and Gamma-Gamma for order values, fitted by maximum likelihood with scipy. The purchase
  summary comes from the 365-day RFM features (a left-truncated window, see ``rfm_summary``);
  the expected count of an *alive* customer over ``t`` weeks is ``t (r + x) / (alpha + T)``.

The margin a model learns is the order margin (``gross_margin`` × completed spend) plus, when the
export has subscriptions, the same share of the subscription revenue the window covers. BG/NBD
models purchases only, so it competes only when there are orders; a subscriptions-only export
is valued by gradient boosting alone. For an export with both (a retailer with a paid membership,
say), BG/NBD adds the recurring part as the subscription family states it: the MRR running at the
cutoff (``subscription_mrr``) for every day of the horizon, which is what a customer who stays
keeps paying; without it, BG/NBD would compete on the order margin alone and lose to any model
that sees the subscription revenue.

PyMC-Marketing fits the same BG/NBD and Gamma-Gamma likelihoods with MCMC, but it pulls PyMC
and a compiler toolchain into the install and takes minutes per fit in CI; ``lifetimes`` is
unmaintained. The two likelihoods are short and well known, so they are written out here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline

from core.logging import get_logger
from models.candidates import FeatureColumns, build_preprocessor, model_inputs

_log = get_logger(__name__)

WINDOW_DAYS = 365.0
WEEK = 7.0
RFM_COLUMNS = (
    "rfm_orders_365d",
    "lifecycle_days_since_first_order",
    "rfm_days_since_last_order",
    "rfm_avg_basket_365d",
)
"""The features BG/NBD reads (:func:`rfm_summary`): the ``rfm`` and ``lifecycle`` families'."""
RECURRING_REVENUE = "subscription_mrr"
"""The feature BG/NBD reads the running subscription revenue from, when the features have it."""


ORDER_COLUMNS = ("customer_id", "order_ts", "amount", "status")
"""The ``orders`` columns :func:`next_period_margin` reads (``status`` optional)."""
SUBSCRIPTION_COLUMNS = ("customer_id", "start_date", "end_date", "mrr")
"""The ``subscriptions`` columns :func:`next_period_subscription_margin` reads."""


def completed_orders(orders: pd.DataFrame) -> pd.DataFrame:
    """The orders that count as purchases, by the features' rule (``features.rows.is_completed``):
    ``status`` completed, or no status at all. The column is optional in the data contract, and
    the raw-table reader fills an absent one with nulls, so a null must count as completed here
    too, or an export without statuses would have no purchases at all outside the features."""
    if "status" not in orders:
        return orders
    status = orders["status"]
    return orders[status.isna() | (status == "completed")]


def next_period_margin(
    orders: pd.DataFrame, keys: pd.DataFrame, horizon_days: int, gross_margin: float
) -> pd.Series:
    """Realised margin of completed orders in ``[cutoff, cutoff + horizon_days)`` per key row.

    ``orders`` needs ``customer_id``, ``order_ts``, ``amount`` and optionally ``status``
    (:func:`completed_orders` count, as for the churn label); ``keys`` needs ``customer_id``,
    ``cutoff_date``. Returns a Series aligned to ``keys``' index.
    """
    completed = completed_orders(orders)[["customer_id", "order_ts", "amount"]]
    result = pd.Series(0.0, index=keys.index)
    for cutoff, rows in keys.groupby("cutoff_date"):
        start = pd.Timestamp(cutoff)
        end = start + pd.Timedelta(days=horizon_days)
        window = completed[(completed["order_ts"] >= start) & (completed["order_ts"] < end)]
        spend = window.groupby("customer_id")["amount"].sum()
        result.loc[rows.index] = rows["customer_id"].map(spend).fillna(0.0).to_numpy()
    return result * gross_margin


DAYS_PER_MONTH = 365.25 / 12
"""Days one month of recurring revenue (``mrr``) pays for."""


def recurring_margin(mrr: np.ndarray, horizon_days: int, gross_margin: float) -> np.ndarray:
    """Margin of ``mrr`` (per month; NaN as 0) paid for every day of a ``horizon_days`` horizon:
    what the subscriptions running at the cutoff bring if the customer stays and keeps them."""
    return np.nan_to_num(mrr, nan=0.0) * horizon_days / DAYS_PER_MONTH * gross_margin


def next_period_subscription_margin(
    subscriptions: pd.DataFrame, keys: pd.DataFrame, horizon_days: int, gross_margin: float
) -> pd.Series:
    """Realised margin of subscription revenue in ``[cutoff, cutoff + horizon_days)`` per key.

    A subscription pays ``mrr`` per month for each of its days (``start_date`` … ``end_date``
    inclusive; no end: still running) that falls in the window, as the labels read coverage.
    ``subscriptions`` needs ``customer_id``, ``start_date``, ``end_date``, ``mrr``; ``keys``
    needs ``customer_id``, ``cutoff_date``. Returns a Series aligned to ``keys``' index.
    """
    start = pd.to_datetime(subscriptions["start_date"])
    # The day after the last one; a running subscription runs past any window.
    stop = pd.to_datetime(subscriptions["end_date"]) + pd.Timedelta(days=1)
    result = pd.Series(0.0, index=keys.index)
    for cutoff, rows in keys.groupby("cutoff_date"):
        window_start = pd.Timestamp(cutoff)
        window_stop = window_start + pd.Timedelta(days=horizon_days)
        covered_from = start.clip(lower=window_start)
        covered_to = stop.fillna(window_stop).clip(upper=window_stop)
        days = (covered_to - covered_from).dt.days.clip(lower=0)
        revenue = (
            (subscriptions["mrr"] * days / DAYS_PER_MONTH)
            .groupby(subscriptions["customer_id"])
            .sum()
        )
        result.loc[rows.index] = rows["customer_id"].map(revenue).fillna(0.0).to_numpy()
    return result * gross_margin


def rfm_summary(features: pd.DataFrame) -> pd.DataFrame:
    """BG/NBD inputs in weeks from the 365-day RFM features: ``x``, ``t_x``, ``T``, ``m``.

    The window starts at the first order if it lies within 365 days (that order is the origin,
    so ``x`` counts the repeat orders), else 365 days before the cutoff (every order in it is a
    repeat). Customers without an order in the window get ``x = 0`` and ``T`` of the window.
    """
    count, first, last, average = RFM_COLUMNS
    orders = features[count].fillna(0).to_numpy(dtype=float)
    since_first = features[first].to_numpy(dtype=float)
    since_last = features[last].to_numpy(dtype=float)
    basket = features[average].to_numpy(dtype=float)
    return pd.DataFrame(rfm_arrays(orders, since_first, since_last, basket), index=features.index)


def rfm_arrays(
    orders: np.ndarray, since_first: np.ndarray, since_last: np.ndarray, basket: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`rfm_summary`'s columns from the four features as float arrays (``orders`` with
    nulls as 0, the others NaN where null): the scoring service's per-request path."""
    first_inside = ~np.isnan(since_first) & (since_first <= WINDOW_DAYS)
    span = np.where(first_inside, since_first, WINDOW_DAYS)
    repeat = np.where(first_inside, np.maximum(orders - 1, 0), orders)
    recency = np.where((repeat > 0) & ~np.isnan(since_last), span - since_last, 0.0)
    return {
        "x": repeat,
        "t_x": np.clip(recency, 0.0, None) / WEEK,
        "T": np.maximum(span, 1.0) / WEEK,
        "orders": orders,
        "m": np.nan_to_num(basket, nan=0.0),
    }


def _bg_nbd_neg_ll(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:
    r, alpha, a, b = np.exp(np.clip(log_params, -12.0, 12.0))
    a1 = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    a2 = special.betaln(a, b + x) - special.betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.where(
        x > 0,
        np.log(a) - np.log(np.maximum(b + x - 1, 1e-12)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return float(-np.sum(a1 + a2 + np.logaddexp(a3, a4)))


def _gamma_gamma_neg_ll(log_params: np.ndarray, x: np.ndarray, m: np.ndarray) -> float:
    p, q, v = np.exp(np.clip(log_params, -12.0, 12.0))
    ll = (
        special.gammaln(p * x + q)
        - special.gammaln(p * x)
        - special.gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
    return float(-np.sum(ll))


@dataclass
class BgNbdValue:
    """BG/NBD + Gamma-Gamma expected margin of the next ``horizon_days`` for alive customers,
    plus the :func:`recurring_margin` of their running subscriptions when the features it was
    fitted on state one (``recurring_``: they had :data:`RECURRING_REVENUE`)."""

    horizon_days: int
    gross_margin: float
    params_: dict[str, float] = field(default_factory=dict)
    recurring_: bool = False

    def fit(self, features: pd.DataFrame) -> BgNbdValue:
        summary = rfm_summary(features)
        x, t_x, T = (summary[c].to_numpy() for c in ("x", "t_x", "T"))
        fitted = optimize.minimize(
            _bg_nbd_neg_ll,
            np.log([1.0, 5.0, 1.0, 5.0]),
            args=(x, t_x, T),
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-6},
        )
        if not fitted.success:
            _log.warning("BG/NBD fit did not converge", message=str(fitted.message))
        r, alpha, a, b = np.exp(np.clip(fitted.x, -12.0, 12.0))
        spenders = (summary["orders"] > 0) & (summary["m"] > 0)
        if not spenders.any():
            # With nothing spent, the likelihood is empty and the optimiser would return its
            # starting point (an order value of 50): no spend observed means no value.
            _log.warning("no customer with spend: Gamma-Gamma order value is 0", rows=len(summary))
            p, q, v = 0.0, 2.0, 0.0
        else:
            gg = optimize.minimize(
                _gamma_gamma_neg_ll,
                np.log([2.0, 3.0, 50.0]),
                args=(
                    summary.loc[spenders, "orders"].to_numpy(),
                    summary.loc[spenders, "m"].to_numpy(),
                ),
                method="Nelder-Mead",
                options={"maxiter": 4000},
            )
            if not gg.success:
                _log.warning("Gamma-Gamma fit did not converge", message=str(gg.message))
            p, q, v = np.exp(np.clip(gg.x, -12.0, 12.0))
        self.params_ = {"r": r, "alpha": alpha, "a": a, "b": b, "p": p, "q": q, "v": v}
        self.recurring_ = RECURRING_REVENUE in features.columns
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        s = rfm_summary(features)
        mrr = features[RECURRING_REVENUE].to_numpy(dtype=float) if self.recurring_ else None
        return self.predict_summary(
            s["x"].to_numpy(), s["T"].to_numpy(), s["orders"].to_numpy(), s["m"].to_numpy(), mrr
        )

    def predict_summary(
        self,
        x: np.ndarray,
        T: np.ndarray,
        orders: np.ndarray,
        m: np.ndarray,
        mrr: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`predict` from :func:`rfm_arrays`' ``x``, ``T``, ``orders`` and ``m``, and the
        :data:`RECURRING_REVENUE` feature's values (``mrr``) when ``recurring_``."""
        if self.recurring_ and mrr is None:
            raise ValueError(
                f"this BG/NBD value was fitted with {RECURRING_REVENUE}; pass its values as mrr"
            )
        k = self.params_
        weeks = self.horizon_days / WEEK
        purchases = weeks * (k["r"] + x) / (k["alpha"] + T)
        n = orders
        population_mean = k["p"] * k["v"] / max(k["q"] - 1.0, 1e-6)
        order_value = np.where(
            (n > 0) & (m > 0),
            k["p"] * (k["v"] + n * m) / np.maximum(k["p"] * n + k["q"] - 1.0, 1e-6),
            population_mean,
        )
        value = purchases * order_value * self.gross_margin
        if mrr is None:
            return value
        return value + recurring_margin(mrr, self.horizon_days, self.gross_margin)


@dataclass
class GradientBoostingValue:
    """Histogram gradient boosting regression of the next-horizon margin on the features."""

    columns: FeatureColumns
    seed: int = 0
    model_: Pipeline | None = None
    inputs_: FeatureColumns | None = None
    """``columns`` that hold a value in the rows it was fitted on (:meth:`FeatureColumns.
    with_values_in`): the customers who stayed, a subset of the rows ``columns`` came from."""

    def fit(self, features: pd.DataFrame, margin: Any) -> GradientBoostingValue:
        self.inputs_ = self.columns.with_values_in(features)
        if self.inputs_ != self.columns:
            _log.info(
                "value model: feature columns without a value in its rows left out",
                columns=sorted(set(self.columns.all) - set(self.inputs_.all)),
                rows=len(features),
            )
        self.model_ = Pipeline(
            [
                ("prepare", build_preprocessor("hist_gradient_boosting", self.inputs_)),
                (
                    "regress",
                    HistGradientBoostingRegressor(
                        max_iter=200,
                        learning_rate=0.05,
                        min_samples_leaf=40,
                        random_state=self.seed,
                    ),
                ),
            ]
        )
        self.model_.fit(model_inputs(features, self.inputs_), np.asarray(margin, dtype=float))
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        assert self.model_ is not None and self.inputs_ is not None, "fit the value model first"
        return np.clip(self.model_.predict(model_inputs(features, self.inputs_)), 0.0, None)


def value_metrics(actual: Any, predicted: Any) -> dict[str, float]:
    """MAE, RMSE, Spearman rank correlation and total predicted / total actual."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    error = predicted - actual
    total = float(actual.sum())
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
        "spearman": float(pd.Series(actual).corr(pd.Series(predicted), method="spearman")),
        "total_ratio": float(predicted.sum() / total) if total > 0 else float("nan"),
    }
