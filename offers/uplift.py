"""Multi-offer uplift meta-learners: how much each offer lowers each customer's churn probability.

Training data are past campaigns: treated rows carry the offer they received, control rows
(``offer_id`` None) received nothing. Control customers were held out at random inside each
campaign, independently of the offer drawn, so every control row is a valid control for every
offer. Uplift is the reduction of the churn probability, ``p(churn | no offer) - p(churn |
offer)``: positive keeps the customer, negative pushes them out ("sleeping dogs").

* T-learner: one churn classifier on control rows, one per offer on its treated rows; uplift is
  the difference of their predictions.
* X-learner (Künzel et al. 2019): the T-learner's models impute each row's individual effect
  (treated: ``mu_0(x) - y``; control: ``y - mu_k(x)``), two regressors learn those, and their
  predictions are blended by the share of treated rows (the campaigns' randomisation is
  constant, so the propensity is a constant per offer).

Both use XGBoost on the same preprocessing as the churn models (``models.candidates``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from xgboost import XGBClassifier, XGBRegressor

from models.candidates import FeatureColumns, build_preprocessor, model_inputs
from offers.hazard import HazardRatioUplift
from offers.reach import ReachHazardUplift

LearnerKind = Literal["t_learner", "x_learner"]
_MIN_ROWS = 20


class UpliftDataError(ValueError):
    """Too few treated or control rows to fit an uplift model."""


class UpliftModel:
    """Per-offer uplift (churn-probability reduction) from feature rows.

    ``fit(features, offer_ids, churned)``: ``offer_ids`` holds the offer of treated rows and
    None for control rows. ``predict(features)`` returns rows × offers in ``offers`` order.
    """

    def __init__(
        self,
        kind: LearnerKind,
        offers: Sequence[str],
        columns: FeatureColumns,
        xgboost_params: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.kind = kind
        self.offers = list(offers)
        self.columns = columns
        self.xgboost_params = dict(xgboost_params or {})
        self.seed = seed
        self.preprocessor_: ColumnTransformer | None = None
        self.control_model_: XGBClassifier | None = None
        self.offer_models_: dict[str, XGBClassifier] = {}
        self.effect_models_: dict[str, tuple[XGBRegressor, XGBRegressor, float]] = {}

    def _settings(self) -> dict[str, Any]:
        return {"n_jobs": 1, "random_state": self.seed, "tree_method": "hist"} | {
            key: value for key, value in self.xgboost_params.items()
        }

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        assert self.preprocessor_ is not None, "fit the uplift model first"
        return np.asarray(self.preprocessor_.transform(model_inputs(features, self.columns)))

    def fit(
        self,
        features: pd.DataFrame,
        offer_ids: Sequence[Any],
        churned: Any,
        churn_probability: Any = None,
    ) -> UpliftModel:
        """``churn_probability`` is accepted for a common interface; these learners ignore it."""
        offer_array = pd.Series(list(offer_ids), dtype=object).to_numpy()
        outcome = np.asarray(churned, dtype=float)
        if not len(features) == len(offer_array) == len(outcome):
            raise UpliftDataError(
                f"features ({len(features)} rows), offer ids ({len(offer_array)}) and outcomes "
                f"({len(outcome)}) must have the same length"
            )
        control = pd.isna(offer_array)
        self._require(int(control.sum()), "control")
        self.preprocessor_ = build_preprocessor("xgboost", self.columns)
        matrix = np.asarray(self.preprocessor_.fit_transform(model_inputs(features, self.columns)))
        self.control_model_ = self._classifier().fit(matrix[control], outcome[control])
        self.offer_models_ = {}
        self.effect_models_ = {}
        for offer in self.offers:
            treated = offer_array == offer
            self._require(int(treated.sum()), f"treated with {offer}")
            model = self._classifier().fit(matrix[treated], outcome[treated])
            self.offer_models_[offer] = model
            if self.kind == "x_learner":
                self.effect_models_[offer] = self._second_stage(
                    matrix, outcome, treated, control, model
                )
        return self

    def _second_stage(
        self,
        matrix: np.ndarray,
        outcome: np.ndarray,
        treated: np.ndarray,
        control: np.ndarray,
        offer_model: XGBClassifier,
    ) -> tuple[XGBRegressor, XGBRegressor, float]:
        assert self.control_model_ is not None
        imputed_treated = (
            self.control_model_.predict_proba(matrix[treated])[:, 1] - outcome[treated]
        )
        imputed_control = outcome[control] - offer_model.predict_proba(matrix[control])[:, 1]
        on_treated = self._regressor().fit(matrix[treated], imputed_treated)
        on_control = self._regressor().fit(matrix[control], imputed_control)
        propensity = float(treated.sum() / (treated.sum() + control.sum()))
        return on_treated, on_control, propensity

    def predict(self, features: pd.DataFrame, churn_probability: Any = None) -> np.ndarray:
        """rows × offers: predicted reduction of the churn probability by each offer."""
        matrix = self._matrix(features)
        assert self.control_model_ is not None
        if self.kind == "t_learner":
            baseline = self.control_model_.predict_proba(matrix)[:, 1]
            columns = [
                baseline - self.offer_models_[offer].predict_proba(matrix)[:, 1]
                for offer in self.offers
            ]
        else:
            columns = []
            for offer in self.offers:
                on_treated, on_control, propensity = self.effect_models_[offer]
                columns.append(
                    propensity * on_control.predict(matrix)
                    + (1.0 - propensity) * on_treated.predict(matrix)
                )
        return np.column_stack(columns) if columns else np.zeros((len(features), 0))

    def _classifier(self) -> XGBClassifier:
        return XGBClassifier(objective="binary:logistic", eval_metric="logloss", **self._settings())

    def _regressor(self) -> XGBRegressor:
        return XGBRegressor(objective="reg:squarederror", **self._settings())

    @staticmethod
    def _require(rows: int, what: str) -> None:
        if rows < _MIN_ROWS:
            raise UpliftDataError(
                f"uplift training data: {rows} {what} rows, expected at least {_MIN_ROWS}"
            )


class NoEvidenceUplift:
    """The learner of a business whose offers log holds no campaign yet (the table is optional).

    No offer has a measured effect, so none is predicted: every uplift is 0, and with a certain
    cost and no expected effect no offer has a positive expected gain. Churn scores, reasons and
    values are served as usual; the first randomised campaign in the offers log (with its control
    group) lets ``churn offers`` learn a policy instead.
    """

    kind = "none"

    def __init__(self, offers: Sequence[str]) -> None:
        self.offers = list(offers)

    def predict(self, features: pd.DataFrame, churn_probability: Any = None) -> np.ndarray:
        return np.zeros((len(features), len(self.offers)))


UpliftLearner = UpliftModel | HazardRatioUplift | ReachHazardUplift | NoEvidenceUplift


def make_learner(
    kind: str,
    offers: Sequence[str],
    columns: FeatureColumns,
    xgboost_params: Mapping[str, Any] | None = None,
    seed: int = 0,
    hazard_l2: float = 10.0,
    effect_features: Sequence[str] | None = None,
    hazard_baseline: Literal["joint", "control"] = "joint",
) -> UpliftLearner:
    """The uplift learner named ``kind`` (``t_learner``, ``x_learner``, ``hazard_ratio`` or
    ``reach_hazard``)."""
    if kind == "hazard_ratio":
        return HazardRatioUplift(offers, columns, hazard_l2, effect_features, hazard_baseline)
    if kind == "reach_hazard":
        return ReachHazardUplift(
            offers, columns, xgboost_params, seed, hazard_l2, effect_features, hazard_baseline
        )
    if kind in ("t_learner", "x_learner"):
        return UpliftModel(kind, offers, columns, xgboost_params, seed)  # type: ignore[arg-type]
    raise ValueError(
        f"unknown uplift learner {kind!r}; expected t_learner, x_learner, hazard_ratio, "
        "reach_hazard"
    )
