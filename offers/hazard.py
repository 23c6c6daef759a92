"""A proportional-hazards uplift learner: each offer scales the churn hazard by exp(theta(x)).

Churn within the horizon with a cumulative hazard ``H`` has probability ``1 - exp(-H)``; an
offer that multiplies the hazard by ``exp(theta)`` turns it into ``1 - (1 - p0) ** exp(theta)``.
On the complementary log-log scale that is additive:

    cloglog(p) = cloglog(p0(x)) + alpha + x·gamma + sum_k [offer = k] (b_k + x·w_k)

with the churn model's probability as the offset ``p0(x)`` (``alpha + x·gamma`` re-calibrates
it to the campaign population) and a linear, L2-penalised log hazard ratio per offer. Fitting
is a penalised binomial GLM with the cloglog link (L-BFGS with the analytic gradient) on
standardised features (the logistic baseline's preprocessing). ``baseline="joint"`` (default)
fits everything at once on all rows; ``baseline="control"`` fits the baseline correction on the
control rows first (what happens without an offer, learnt where no offer was sent) and then the
effects on the treated rows with that baseline as offset. Fitted jointly, the cloglog score
equations are hazard-weighted, not mean-matching, and with the reach gate they left the no-offer
baseline 3 points above the control arm's churn rate on the default world, which reads as
uplift; docs/offers.md has what each choice gives.

Why next to the XGBoost meta-learners: the effect is estimated on the scale where it is
plausibly simple (a hazard ratio, as in a Cox model) and the absolute uplift then follows from
each customer's own risk, so a handful of well-determined coefficients replace two noisy
classifiers whose difference is the estimate. It is an assumption, checked the same way as the
others (Qini/AUUC on held-out campaigns); the synthetic world happens to generate effects in
exactly this form, which flatters it there — a real CRM may not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.compose import ColumnTransformer

from models.candidates import (
    FeatureColumns,
    build_preprocessor,
    model_inputs,
    preprocess_rows,
)

_EPS = 1e-6


def cloglog(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(probability, _EPS, 1.0 - _EPS)
    return np.log(-np.log1p(-clipped))


def inverse_cloglog(eta: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(np.clip(eta, -30.0, 5.0)))


class HazardRatioUplift:
    """Per-offer uplift from a cloglog GLM with the churn probability as offset."""

    kind = "hazard_ratio"

    def __init__(
        self,
        offers: Sequence[str],
        columns: FeatureColumns,
        l2: float = 1.0,
        effect_features: Sequence[str] | None = None,
        baseline: Literal["joint", "control"] = "joint",
    ) -> None:
        """``effect_features``: the features an offer's log hazard ratio may depend on (None =
        all). Naming the few through which offers plausibly act spends the campaigns' weak
        signal on a handful of coefficients instead of one per feature and offer.
        ``baseline``: ``joint`` fits the baseline correction together with the effects on all
        rows; ``control`` fits it on the control rows first and the effects on the treated rows
        on top of it (see the module docstring)."""
        self.offers = list(offers)
        self.columns = columns
        self.l2 = l2
        self.effect_features = None if effect_features is None else list(effect_features)
        self.baseline = baseline
        self.preprocessor_: ColumnTransformer | None = None
        self.coefficients_: np.ndarray | None = None

    def _design(self, features: pd.DataFrame, fit: bool = False) -> np.ndarray:
        inputs = model_inputs(features, self.columns)
        if fit:
            self.preprocessor_ = build_preprocessor("logistic_regression", self.columns)
            return np.asarray(self.preprocessor_.fit_transform(inputs), dtype=float)
        assert self.preprocessor_ is not None, "fit the uplift model first"
        return preprocess_rows(self.preprocessor_, inputs)

    def fit(
        self,
        features: pd.DataFrame,
        offer_ids: Sequence[Any],
        churned: Any,
        churn_probability: Any,
        gate: np.ndarray | None = None,
    ) -> HazardRatioUplift:
        """``gate`` (rows × offers, default 1) scales each offer's log hazard ratio per row:
        ``log HR = gate · (b_k + x·w_k)``; the model stays a GLM because the gate is fixed."""
        design = self._design(features, fit=True)
        offer_array = pd.Series(list(offer_ids), dtype=object).to_numpy()
        treatment = np.column_stack([offer_array == offer for offer in self.offers]).astype(float)
        if gate is not None:
            treatment = treatment * np.asarray(gate, dtype=float)
        outcome = np.asarray(churned, dtype=float)
        offset = cloglog(np.asarray(churn_probability, dtype=float))
        n_features = design.shape[1]
        free = np.ones((1 + len(self.offers), 1 + n_features), dtype=bool)
        free[1:, 1:] = self._effect_mask(n_features)[None, :]
        if self.baseline == "joint":
            self.coefficients_ = _fit_cloglog(design, treatment, outcome, offset, free, self.l2)
            return self
        # "control": the no-offer baseline from the rows that got no offer, then the offers'
        # effects on the treated rows on top of it
        control = pd.isna(offer_array)
        baseline = _fit_cloglog(
            design[control],
            np.zeros((int(control.sum()), 0)),
            outcome[control],
            offset[control],
            free[:1],
            self.l2,
        )
        free[0, :] = False
        baseline_eta = offset + baseline[0, 0] + design @ baseline[0, 1:]
        effects = _fit_cloglog(
            design[~control],
            treatment[~control],
            outcome[~control],
            baseline_eta[~control],
            free,
            self.l2,
        )
        self.coefficients_ = np.vstack([baseline, effects[1:]])
        return self

    def _effect_mask(self, n_features: int) -> np.ndarray:
        """Which design columns enter the offers' effects (``effect_features``; a numeric
        feature's missing-value indicator counts as part of it)."""
        if self.effect_features is None:
            return np.ones(n_features, dtype=bool)
        assert self.preprocessor_ is not None
        names = [str(name) for name in self.preprocessor_.get_feature_names_out()]
        unknown = [feature for feature in self.effect_features if feature not in self.columns.all]
        if unknown:
            raise ValueError(
                f"hazard-ratio uplift: effect feature(s) {unknown} are not model inputs "
                f"(expected some of {sorted(self.columns.all)})"
            )
        return np.array(
            [
                any(
                    name in (feature, f"missingindicator_{feature}")
                    or (feature in self.columns.categorical and name.startswith(f"{feature}_"))
                    for feature in self.effect_features
                )
                for name in names
            ]
        )

    def predict(
        self,
        features: pd.DataFrame,
        churn_probability: Any = None,
        gate: np.ndarray | None = None,
    ) -> np.ndarray:
        """rows × offers: reduction of the churn probability by each offer (``gate`` as in
        :meth:`fit`)."""
        _check_churn_probability(churn_probability)
        assert self.coefficients_ is not None, "fit the uplift model first"
        # the design once: it is most of a per-request call's cost
        return self.predict_design(self._design(features), churn_probability, gate)

    def predict_design(
        self, design: np.ndarray, churn_probability: Any, gate: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`predict` from the preprocessed design matrix (``preprocess_rows`` of the
        fitted preprocessor on ``model_inputs``), for callers that built it already."""
        _check_churn_probability(churn_probability)
        assert self.coefficients_ is not None, "fit the uplift model first"
        base = cloglog(self._no_offer_probability(design, churn_probability))
        effect = self._log_hazard_ratio(design, gate)
        return inverse_cloglog(base)[:, None] - inverse_cloglog(base[:, None] + effect)

    def no_offer_probability(self, features: pd.DataFrame, churn_probability: Any) -> np.ndarray:
        """Per row the churn probability without an offer: the churn model's, re-calibrated to
        the campaigns (to their control arm with ``baseline="control"``)."""
        _check_churn_probability(churn_probability)
        assert self.coefficients_ is not None, "fit the uplift model first"
        return self._no_offer_probability(self._design(features), churn_probability)

    def _log_hazard_ratio(self, design: np.ndarray, gate: np.ndarray | None) -> np.ndarray:
        assert self.coefficients_ is not None
        effect = self.coefficients_[1:, 0][None, :] + design @ self.coefficients_[1:, 1:].T
        return effect if gate is None else effect * np.asarray(gate, dtype=float)

    def _no_offer_probability(self, design: np.ndarray, churn_probability: Any) -> np.ndarray:
        assert self.coefficients_ is not None
        return inverse_cloglog(
            cloglog(np.asarray(churn_probability, dtype=float))
            + self.coefficients_[0, 0]
            + design @ self.coefficients_[0, 1:]
        )


def _check_churn_probability(churn_probability: Any) -> None:
    if churn_probability is None:
        raise ValueError("the hazard-ratio uplift model needs the churn probability per row")


def _fit_cloglog(
    design: np.ndarray,
    treatment: np.ndarray,
    outcome: np.ndarray,
    offset: np.ndarray,
    free: np.ndarray,
    l2: float,
) -> np.ndarray:
    """Penalised cloglog GLM ``eta = offset + a + x·g + sum_k treatment_k (b_k + x·w_k)``.

    Returns the coefficients as blocks × (1 + features): the baseline block, then one per
    treatment column. ``free`` (same shape) marks the coefficients fitted; the others stay 0.
    Intercepts are not penalised. L-BFGS-B with the analytic gradient.
    """
    n_rows, n_features = design.shape
    blocks = 1 + treatment.shape[1]
    penalty = np.zeros((blocks, 1 + n_features))
    penalty[:, 1:] = l2

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

    bounds = [(None, None) if is_free else (0.0, 0.0) for is_free in free.ravel()]
    result = optimize.minimize(
        objective,
        np.zeros(blocks * (1 + n_features)),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000},
    )
    return result.x.reshape(blocks, 1 + n_features)
