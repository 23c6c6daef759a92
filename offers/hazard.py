"""A proportional-hazards uplift learner: each offer scales the churn hazard by exp(theta(x)).

Churn within the horizon with a cumulative hazard ``H`` has probability ``1 - exp(-H)``; an
offer that multiplies the hazard by ``exp(theta)`` turns it into ``1 - (1 - p0) ** exp(theta)``.
On the complementary log-log scale that is additive:

    cloglog(p) = cloglog(p0(x)) + alpha + x·gamma + sum_k [offer = k] (b_k + x·w_k)

with the churn model's probability as the offset ``p0(x)`` (``alpha + x·gamma`` re-calibrates
it to the campaign population) and a linear, L2-penalised log hazard ratio per offer. Fitting
is a penalised binomial GLM with the cloglog link (L-BFGS with the analytic gradient) on
standardised features (the logistic baseline's preprocessing).

Why next to the XGBoost meta-learners: the effect is estimated on the scale where it is
plausibly simple (a hazard ratio, as in a Cox model) and the absolute uplift then follows from
each customer's own risk, so a handful of well-determined coefficients replace two noisy
classifiers whose difference is the estimate. It is an assumption, checked the same way as the
others (Qini/AUUC on held-out campaigns); the synthetic world happens to generate effects in
exactly this form, which flatters it there — a real CRM may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.compose import ColumnTransformer

from models.candidates import FeatureColumns, build_preprocessor, model_inputs

_EPS = 1e-6


def cloglog(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(probability, _EPS, 1.0 - _EPS)
    return np.log(-np.log1p(-clipped))


def inverse_cloglog(eta: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(np.clip(eta, -30.0, 5.0)))


class HazardRatioUplift:
    """Per-offer uplift from a cloglog GLM with the churn probability as offset."""

    kind = "hazard_ratio"

    def __init__(self, offers: Sequence[str], columns: FeatureColumns, l2: float = 1.0) -> None:
        self.offers = list(offers)
        self.columns = columns
        self.l2 = l2
        self.preprocessor_: ColumnTransformer | None = None
        self.coefficients_: np.ndarray | None = None

    def _design(self, features: pd.DataFrame, fit: bool = False) -> np.ndarray:
        inputs = model_inputs(features, self.columns)
        if fit:
            self.preprocessor_ = build_preprocessor("logistic_regression", self.columns)
            return np.asarray(self.preprocessor_.fit_transform(inputs), dtype=float)
        assert self.preprocessor_ is not None, "fit the uplift model first"
        return np.asarray(self.preprocessor_.transform(inputs), dtype=float)

    def fit(
        self,
        features: pd.DataFrame,
        offer_ids: Sequence[Any],
        churned: Any,
        churn_probability: Any,
    ) -> HazardRatioUplift:
        design = self._design(features, fit=True)
        offer_array = pd.Series(list(offer_ids), dtype=object).to_numpy()
        treatment = np.column_stack([offer_array == offer for offer in self.offers]).astype(float)
        outcome = np.asarray(churned, dtype=float)
        offset = cloglog(np.asarray(churn_probability, dtype=float))
        n_rows, n_features = design.shape
        n_offers = len(self.offers)
        blocks = 1 + n_offers  # baseline correction, then one block per offer
        penalty = np.zeros((blocks, 1 + n_features))
        penalty[:, 1:] = self.l2

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            theta = flat.reshape(blocks, 1 + n_features)
            base = theta[0, 0] + design @ theta[0, 1:]
            effect = theta[1:, 0][None, :] + design @ theta[1:, 1:].T
            eta = offset + base + (treatment * effect).sum(axis=1)
            hazard = np.exp(np.clip(eta, -30.0, 5.0))
            probability = np.clip(-np.expm1(-hazard), 1e-12, 1.0)
            log_lik = outcome * np.log(probability) - (1.0 - outcome) * hazard
            slope = hazard * (outcome * (1.0 - probability) / probability - (1.0 - outcome))
            grad = np.zeros_like(theta)
            grad[0, 0] = slope.sum()
            grad[0, 1:] = design.T @ slope
            weighted = treatment * slope[:, None]
            grad[1:, 0] = weighted.sum(axis=0)
            grad[1:, 1:] = weighted.T @ design
            loss = -log_lik.sum() + 0.5 * float((penalty * theta**2).sum())
            return loss / n_rows, (-grad + penalty * theta).ravel() / n_rows

        start = np.zeros(blocks * (1 + n_features))
        result = optimize.minimize(
            objective, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000}
        )
        self.coefficients_ = result.x.reshape(blocks, 1 + n_features)
        return self

    def log_hazard_ratio(self, features: pd.DataFrame) -> np.ndarray:
        """rows × offers: the estimated log hazard ratio of each offer (negative keeps)."""
        assert self.coefficients_ is not None, "fit the uplift model first"
        design = self._design(features)
        return self.coefficients_[1:, 0][None, :] + design @ self.coefficients_[1:, 1:].T

    def predict(self, features: pd.DataFrame, churn_probability: Any = None) -> np.ndarray:
        """rows × offers: reduction of the churn probability by each offer."""
        if churn_probability is None:
            raise ValueError("the hazard-ratio uplift model needs the churn probability per row")
        assert self.coefficients_ is not None, "fit the uplift model first"
        design = self._design(features)
        base = (
            cloglog(np.asarray(churn_probability, dtype=float))
            + self.coefficients_[0, 0]
            + design @ self.coefficients_[0, 1:]
        )
        effect = self.coefficients_[1:, 0][None, :] + design @ self.coefficients_[1:, 1:].T
        p_none = inverse_cloglog(base)
        return p_none[:, None] - inverse_cloglog(base[:, None] + effect)
