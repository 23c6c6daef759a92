"""Reachability: an offer can only act on a customer who is still there to receive it.

Past campaigns reached customers the retailer believed active, yet many had in fact already left;
their label is "churned" whatever they are sent, so they carry no effect and dilute it. Who is
still reachable is not observed at the send, but the offers log says who *redeemed* the offer: a
redemption proves the customer was there and engaged with it, and redemptions are far more
frequent than the one-point churn differences between arms (so they are learnt with much less
noise). ``ReachModel`` predicts the chance a customer would redeem each offer from the features
at the send (a post-send outcome used only as a training target; nothing after the send is an
input), pooled over offers with an offer indicator so every campaign row informs every offer.

``ReachHazardUplift`` is the hazard-ratio learner (``offers.hazard``) whose log hazard ratio is
scaled by that reach: ``log HR_k(x) = reach_k(x) · (b_k + x·w_k)``. Customers nobody can reach
get no effect (and no offer); the effect per unit of reach is estimated on all campaigns
together. The reach is divided by its mean on the treated training rows, so the coefficients
keep the scale of the plain learner and its L2 penalty means the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from xgboost import XGBClassifier

from models.candidates import (
    FeatureColumns,
    build_preprocessor,
    model_inputs,
    preprocess_rows,
)
from offers.hazard import HazardRatioUplift

_MIN_REDEMPTIONS = 20


class ReachDataError(ValueError):
    """No usable redemption outcome to learn reachability from."""


class ReachModel:
    """P(redeem offer k | features at the send), for every offer, from treated campaign rows."""

    def __init__(
        self,
        offers: Sequence[str],
        columns: FeatureColumns,
        xgboost_params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.offers = list(offers)
        self.columns = columns
        self.xgboost_params = dict(xgboost_params or {})
        self.seed = seed
        self.preprocessor_: ColumnTransformer | None = None
        self.classifier_: XGBClassifier | None = None

    def _with_offer(self, matrix: np.ndarray, offer_index: np.ndarray) -> np.ndarray:
        indicators = np.zeros((len(matrix), len(self.offers)))
        indicators[np.arange(len(matrix)), offer_index] = 1.0
        return np.hstack([matrix, indicators])

    def fit(self, features: pd.DataFrame, offer_ids: Sequence[Any], redeemed: Any) -> ReachModel:
        """``offer_ids``: the offer of each row (None for control rows, which are skipped:
        they were sent nothing to redeem); ``redeemed``: whether the row's offer was redeemed."""
        offer_array = pd.Series(list(offer_ids), dtype=object).to_numpy()
        outcome = np.asarray(redeemed, dtype=float)
        if not len(features) == len(offer_array) == len(outcome):
            raise ReachDataError(
                f"features ({len(features)} rows), offer ids ({len(offer_array)}) and "
                f"redemptions ({len(outcome)}) must have the same length"
            )
        known = np.isin(offer_array, self.offers)
        if int(outcome[known].sum()) < _MIN_REDEMPTIONS:
            raise ReachDataError(
                f"reach model: {int(outcome[known].sum())} redemptions among {int(known.sum())} "
                f"treated rows, expected at least {_MIN_REDEMPTIONS}"
            )
        self.preprocessor_ = build_preprocessor("xgboost", self.columns)
        matrix = np.asarray(
            self.preprocessor_.fit_transform(model_inputs(features[known], self.columns))
        )
        offer_index = np.array([self.offers.index(offer) for offer in offer_array[known]])
        settings = {"n_jobs": 1, "random_state": self.seed, "tree_method": "hist"}
        self.classifier_ = XGBClassifier(
            objective="binary:logistic", eval_metric="logloss", **(settings | self.xgboost_params)
        ).fit(self._with_offer(matrix, offer_index), outcome[known])
        return self

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """rows × offers: the chance each row would redeem each offer if sent it."""
        assert self.preprocessor_ is not None and self.classifier_ is not None, "fit first"
        return self.predict_inputs(
            preprocess_rows(self.preprocessor_, model_inputs(features, self.columns))
        )

    def predict_inputs(
        self, matrix: np.ndarray, scorer: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> np.ndarray:
        """:meth:`predict` from the preprocessed rows: every offer in one XGBoost call (the
        rows stacked offer after offer), which costs one call's fixed overhead instead of one
        per offer; trees score each row on its own, so the numbers are those of per-offer
        calls. ``scorer``: what gives the classifier's redemption probability for stacked rows
        (default its ``predict_proba``; the scoring service passes a checked equivalent)."""
        assert self.classifier_ is not None, "fit first"
        rows, offers = len(matrix), len(self.offers)
        if not rows or not offers:
            return np.zeros((rows, offers))
        stacked = np.vstack([self._with_offer(matrix, np.full(rows, k)) for k in range(offers)])
        if scorer is None:
            probability = self.classifier_.predict_proba(stacked)[:, 1]
        else:
            probability = scorer(stacked)
        return np.ascontiguousarray(probability.reshape(offers, rows).T)


class ReachHazardUplift:
    """Hazard-ratio uplift whose effect is scaled by each customer's predicted reach."""

    kind = "reach_hazard"

    def __init__(
        self,
        offers: Sequence[str],
        columns: FeatureColumns,
        xgboost_params: Mapping[str, Any] | None = None,
        seed: int = 0,
        l2: float = 10.0,
        effect_features: Sequence[str] | None = None,
        baseline: Literal["joint", "control"] = "joint",
    ) -> None:
        self.offers = list(offers)
        self.columns = columns
        self.reach = ReachModel(offers, columns, xgboost_params, seed)
        self.hazard = HazardRatioUplift(offers, columns, l2, effect_features, baseline)
        self.reach_scale_: float | None = None

    def gate(self, features: pd.DataFrame) -> np.ndarray:
        """rows × offers: predicted reach relative to the treated training rows' mean."""
        assert self.reach_scale_ is not None, "fit the uplift model first"
        return self.reach.predict(features) / self.reach_scale_

    def fit(
        self,
        features: pd.DataFrame,
        offer_ids: Sequence[Any],
        churned: Any,
        churn_probability: Any,
        redeemed: Any = None,
    ) -> ReachHazardUplift:
        if redeemed is None:
            raise ReachDataError(
                "the reach_hazard learner needs the offers log's redemptions (redeemed_ts)"
            )
        offer_list = list(offer_ids)
        self.reach.fit(features, offer_list, redeemed)
        reach = self.reach.predict(features)
        offer_array = pd.Series(offer_list, dtype=object).to_numpy()
        treated = np.column_stack([offer_array == offer for offer in self.offers])
        self.reach_scale_ = float(reach[treated].mean())
        self.hazard.fit(
            features, offer_list, churned, churn_probability, gate=reach / self.reach_scale_
        )
        return self

    def predict(self, features: pd.DataFrame, churn_probability: Any = None) -> np.ndarray:
        """rows × offers: reduction of the churn probability by each offer."""
        return self.hazard.predict(features, churn_probability, gate=self.gate(features))

    def predict_inputs(
        self,
        reach_rows: np.ndarray,
        design: np.ndarray,
        churn_probability: Any,
        reach_scorer: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> np.ndarray:
        """:meth:`predict` from the preprocessed rows of the reach model (``reach_rows``) and
        of the hazard model (``design``), for callers that built them already
        (``reach_scorer`` as ``scorer`` in :meth:`ReachModel.predict_inputs`)."""
        assert self.reach_scale_ is not None, "fit the uplift model first"
        gate = self.reach.predict_inputs(reach_rows, reach_scorer) / self.reach_scale_
        return self.hazard.predict_design(design, churn_probability, gate=gate)
