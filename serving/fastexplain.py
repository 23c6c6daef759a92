"""Raw-feature scoring with reasons and offer, without pandas: the reference path's numbers from
the same fitted objects, for one request's rows.

The reference (``serving.scoring.score_frame`` with ``explain=True``) builds a DataFrame per
request and runs ``models.explain.explain_rows``, ``models.reasons.reasons_for_rows`` and
``offers.policy.OfferPolicy.recommend`` on it: ``model_inputs`` three times, a one-row
``DataFrame`` per step and one XGBoost call per offer, milliseconds of bookkeeping around
microseconds of arithmetic. Here the request values become one float matrix and one string
column per categorical feature, once; each fitted preprocessor's own plan
(``models.candidates.preprocess_rows``' arithmetic) turns them into its model's inputs; then:

* contributions: the explainer's own booster copy (``pred_contribs`` and the margin on one
  ``DMatrix``), summed back to features by the explainer's regrouping matrix, with the same
  additivity check;
* probability: the same booster's prediction on that ``DMatrix`` through the fitted calibrators,
  in ``models.explain.dense``'s order of operations;
* reasons: ``reasons_for_rows``' selection with the group membership computed once at load, each
  reason worded by ``models.reasons``' own code and encoded as ``reasons_json`` encodes it;
* offer: the reach model (all offers in one XGBoost call), the hazard model's ``predict_design``,
  the value model's ``predict_summary``, the rules' array functions and the policy's own
  ``table`` and ``best_offers``.

:func:`compile_fast_explainer` returns ``None`` for shapes it does not know, and the service only
uses it after :func:`check_fast_explainer` found its answers equal (``==``, every field) to the
reference path's on the snapshot rows; otherwise the reference path serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from xgboost import Booster, DMatrix, XGBClassifier

from models.candidates import DensePlan, FeatureColumns
from models.explain.contributions import (
    ADDITIVITY_TOLERANCE,
    ChurnExplainer,
    ExplainError,
)
from models.explain.dense import CLIP_ABOVE_ONE
from models.reasons import ReasonCode, RowGroups, row_codes, row_values
from offers.hazard import HazardRatioUplift
from offers.reach import ReachHazardUplift
from offers.rules import (
    COUNTRY,
    DAYS_SINCE_OFFER,
    MEMBER,
    OFFERS_365D,
    TENURE,
    UNSUBSCRIBE_COUNTS,
    UNSUBSCRIBED,
    contact_block_values,
    offer_eligible_values,
    unsubscribe_known,
)
from offers.value import RECURRING_REVENUE, RFM_COLUMNS, BgNbdValue, rfm_arrays
from serving.fastpath import (
    TREES_MAX_ROWS,
    TreeEnsemble,
    calibrated,
    request_category,
    tree_ensemble,
)

if TYPE_CHECKING:
    from offers.policy import OfferPolicy

VALUE_COLUMNS = RFM_COLUMNS
NUMERIC_RULE_COLUMNS = (TENURE, MEMBER, UNSUBSCRIBED, DAYS_SINCE_OFFER, OFFERS_365D)
REACH_TREES_MAX_ROWS = TREES_MAX_ROWS  # stacked rows (request rows × offers) walked


@dataclass(frozen=True)
class RowValues:
    """One request's rows: every non-string feature as a float column (null → NaN, booleans as
    1/0, as ``astype("float64")`` does) and every categorical feature as strings (null →
    ``missing``, as ``model_inputs`` does)."""

    numbers: np.ndarray
    position: Mapping[str, int]
    categories: Mapping[str, np.ndarray]
    raw: Sequence[Mapping[str, Any]]

    def column(self, name: str) -> np.ndarray:
        return self.numbers[:, self.position[name]]


@dataclass(frozen=True)
class Encoder:
    """One fitted ``build_preprocessor`` transformer applied to :class:`RowValues`: the same
    arithmetic as ``models.candidates.preprocess_rows`` on ``model_inputs`` rows."""

    numeric: np.ndarray  # positions in RowValues.numbers, in the transformer's column order
    categorical: tuple[str, ...]
    plan: DensePlan

    @classmethod
    def of(cls, preprocessor: Any, columns: FeatureColumns, position: Mapping[str, int]) -> Any:
        plan = DensePlan.of(preprocessor)
        if not plan.usable or plan.columns != list(columns.all):
            return None
        if any(name not in position for name in columns.numeric):
            return None
        index = np.array([position[name] for name in columns.numeric], dtype=int)
        return cls(numeric=index, categorical=tuple(columns.categorical), plan=plan)

    def inputs(self, rows: RowValues) -> np.ndarray:
        blocks = [self.plan.numeric(rows.numbers[:, self.numeric])]
        for name, known in zip(self.categorical, self.plan.categories, strict=True):
            blocks.append((rows.categories[name][:, None] == known[None, :]).astype("float64"))
        return np.hstack(blocks)


@dataclass(frozen=True)
class ReasonPlan:
    """``reasons_for_rows``' feature → group bookkeeping, done once per model."""

    groups: RowGroups
    top_k: int
    min_contribution: float

    @classmethod
    def of(cls, features: Sequence[str], top_k: int, min_contribution: float) -> ReasonPlan:
        return cls(RowGroups.of(features), top_k, min_contribution)

    def reasons(self, contributions: np.ndarray, values: list[dict[str, Any]]) -> list[list[dict]]:
        """Per row the reason codes as the JSON objects ``reasons_json`` writes."""
        groups = self.groups
        moved = groups.moved(row_values(values), len(contributions))
        totals = groups.totals(contributions, moved)
        return [
            [
                _encoded(code)
                for code in row_codes(
                    groups,
                    contributions[position],
                    moved[position],
                    totals[position],
                    values[position],
                    self.top_k,
                    False,
                    self.min_contribution,
                )
            ]
            for position in range(len(contributions))
        ]


def _encoded(code: ReasonCode) -> dict[str, Any]:
    """``json.loads(reasons_json([code]))[0]`` without the round trip: keys sorted, numbers as
    Python floats (a float survives JSON unchanged)."""
    return {
        "actionable": code.actionable,
        "contribution": float(code.contribution),
        "direction": code.direction,
        "family": code.family,
        "feature": code.feature,
        "group": code.group,
        "text": code.text,
    }


@dataclass(frozen=True)
class FastExplainer:
    """Probability, reasons and best offer per request row from the served model and policy."""

    numeric_names: tuple[str, ...]
    categorical_names: tuple[str, ...]
    churn: Encoder
    churn_columns: FeatureColumns
    booster: Booster
    iteration_range: tuple[int, int]
    regroup: np.ndarray
    calibrators: tuple[Any, ...]
    reason_plan: ReasonPlan
    policy: OfferPolicy
    reach: Encoder | None
    hazard: Encoder
    value_model: BgNbdValue
    reach_trees: TreeEnsemble | None = None
    trees: TreeEnsemble | None = None  # the churn booster's, for margin and score

    def reach_scorer(self, stacked: np.ndarray) -> np.ndarray:
        """The reach classifier's ``predict_proba(stacked)[:, 1]``: its trees walked by
        :class:`TreeEnsemble` up to :data:`REACH_TREES_MAX_ROWS` rows, else the classifier
        itself."""
        if self.reach_trees is not None and len(stacked) <= REACH_TREES_MAX_ROWS:
            return self.reach_trees.probability(stacked)
        return self.policy.uplift_model.reach.classifier_.predict_proba(stacked)[:, 1]

    def rows(self, rows: Sequence[Mapping[str, Any]]) -> RowValues:
        numbers = np.array(
            [[row[name] for name in self.numeric_names] for row in rows], dtype="float64"
        ).reshape(len(rows), len(self.numeric_names))
        categories = {
            name: np.array([request_category(row[name]) for row in rows], dtype=object)
            for name in self.categorical_names
        }
        position = {name: i for i, name in enumerate(self.numeric_names)}
        return RowValues(numbers, position, categories, rows)

    def answers(
        self, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, list[list[dict]], list[dict[str, Any]]]:
        """(churn probability, reason objects, offer object) per row of ``{feature: value}``
        (validated request values)."""
        values = self.rows(rows)
        probability, contributions = self._explain(values)
        reasons = self.reason_plan.reasons(contributions, self._reason_values(values))
        return probability, reasons, self._offers(values, probability)

    def explain(self, rows: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(churn probability, contributions per feature) only: the fast path's own
        predict + contributions, which the benchmark reports as an extra bound."""
        return self._explain(self.rows(rows))

    def _explain(self, values: RowValues) -> tuple[np.ndarray, np.ndarray]:
        inputs = self.churn.inputs(values)
        matrix = DMatrix(inputs, nthread=1)
        raw = np.asarray(
            self.booster.predict(matrix, pred_contribs=True, iteration_range=self.iteration_range),
            dtype=float,
        )
        if self.trees is not None and len(inputs) <= TREES_MAX_ROWS:
            margin32 = self.trees.margin(inputs)
            scores = self.trees.logistic(margin32)
            margin = np.asarray(margin32, dtype=float)
        else:
            margin = np.asarray(
                self.booster.predict(
                    matrix, output_margin=True, iteration_range=self.iteration_range
                ),
                dtype=float,
            )
            scores = self.booster.predict(matrix, iteration_range=self.iteration_range)
        contributions = raw[:, :-1] @ self.regroup
        base = float(raw[0, -1]) if len(raw) else 0.0
        error = float(np.max(np.abs(base + contributions.sum(axis=1) - margin), initial=0.0))
        if error > ADDITIVITY_TOLERANCE:
            raise ExplainError(
                f"SHAP values do not add up (fast path): base + sum differs from the margin by "
                f"{error:.2e} (> {ADDITIVITY_TOLERANCE}) over {len(raw)} rows"
            )
        return self._calibrated(scores, len(inputs)), contributions

    def _calibrated(self, scores: np.ndarray, rows: int) -> np.ndarray:
        """``models.explain.dense.DenseModel.probability``'s steps on the booster's scores."""
        if not self.calibrators:
            return np.asarray(scores, dtype=float)
        mean = np.zeros(rows)
        for calibrator in self.calibrators:
            probability = np.zeros(rows)
            probability[:] = calibrated(calibrator, scores)
            probability[(probability > 1.0) & (probability <= 1.0 + CLIP_ABOVE_ONE)] = 1.0
            mean += probability
        mean /= len(self.calibrators)
        return mean

    def _reason_values(self, values: RowValues) -> list[dict[str, Any]]:
        """Per row the explained model's input values (``model_inputs``), as the reason
        templates quote them."""
        numeric = self.churn_columns.numeric
        matrix = values.numbers[:, self.churn.numeric].tolist()
        result = []
        for position, numbers in enumerate(matrix):
            row: dict[str, Any] = dict(zip(numeric, numbers, strict=True))
            for name in self.churn_columns.categorical:
                row[name] = values.categories[name][position]
            result.append(row)
        return result

    def _offers(self, values: RowValues, probability: np.ndarray) -> list[dict[str, Any]]:
        policy, model = self.policy, self.policy.uplift_model
        design = self.hazard.inputs(values)
        if self.reach is not None:
            uplift = model.predict_inputs(
                self.reach.inputs(values), design, probability, self.reach_scorer
            )
        else:
            uplift = model.predict_design(design, probability)
        orders = values.column(VALUE_COLUMNS[0])
        summary = rfm_arrays(
            np.where(np.isnan(orders), 0.0, orders),
            values.column(VALUE_COLUMNS[1]),
            values.column(VALUE_COLUMNS[2]),
            values.column(VALUE_COLUMNS[3]),
        )
        recurring = self.value_model.recurring_
        value = self.value_model.predict_summary(
            summary["x"],
            summary["T"],
            summary["orders"],
            summary["m"],
            values.column(RECURRING_REVENUE) if recurring else None,
        )
        blocked = self._blocked(values)
        table = policy.table(probability, uplift, value, self._allowed(values, blocked), blocked)
        best = policy.best_offers(table)
        return [
            {
                "offer_id": offer_id if isinstance(offer_id, str) else None,
                "expected_gain": _number(gain),
                "uplift": _number(effect),
                "value": _number(worth),
                "cost": _number(cost),
                "group": None,
                "decision": str(reason),
            }
            for offer_id, gain, effect, worth, cost, reason in zip(
                best["offer_id"],
                best["expected_gain"],
                best["uplift"],
                best["value"],
                best["cost"],
                best["reason"],
                strict=True,
            )
        ]

    def _blocked(self, values: RowValues) -> np.ndarray:
        offers = values.column(OFFERS_365D)
        counts = [values.column(c) for c in UNSUBSCRIBE_COUNTS if c in values.position]
        return contact_block_values(
            unsubscribe_known(values.column(UNSUBSCRIBED), counts),
            values.column(DAYS_SINCE_OFFER),
            np.where(np.isnan(offers), 0.0, offers),
            self.policy.config,
        )

    def _allowed(self, values: RowValues, blocked: np.ndarray) -> np.ndarray:
        """``offers.rules.eligibility_matrix`` on the request values."""
        catalog = self.policy.config.catalog
        if not catalog:
            return np.zeros((len(values.numbers), 0), dtype=bool)
        contact = blocked == ""
        tenure = values.column(TENURE)
        member = values.column(MEMBER)
        member = np.where(np.isnan(member), 0.0, member)
        columns = []
        for offer in catalog:
            countries = set(offer.countries)
            in_countries = np.array([row[COUNTRY] in countries for row in values.raw], dtype=bool)
            columns.append(offer_eligible_values(tenure, member, in_countries, offer) & contact)
        return np.column_stack(columns)


def compile_fast_explainer(
    model: Any,
    columns: FeatureColumns,
    policy: OfferPolicy,
    feature_kinds: Mapping[str, str],
    top_reasons: int,
    reason_min_log_odds: float,
) -> FastExplainer | None:
    """A :class:`FastExplainer` for the served ``model`` and ``policy`` if both have a shape it
    knows (XGBoost churn model on the native SHAP path with dense inputs; reach-gated or plain
    hazard-ratio uplift; BG/NBD value), else None."""
    from offers.policy import OfferPolicy

    if not isinstance(policy, OfferPolicy) or not isinstance(policy.value_model, BgNbdValue):
        return None
    learner = policy.uplift_model
    if isinstance(learner, ReachHazardUplift):
        hazard_model, reach_model = learner.hazard, learner.reach
    elif isinstance(learner, HazardRatioUplift):
        hazard_model, reach_model = learner, None
    else:
        return None
    try:
        explainer = ChurnExplainer.from_model(model, n_jobs=1)
    except ExplainError:
        return None
    if explainer.path != "xgboost_native" or explainer._dense is None:
        return None
    numeric_names = tuple(name for name, kind in feature_kinds.items() if kind != "string")
    position = {name: i for i, name in enumerate(numeric_names)}
    needed = (*VALUE_COLUMNS, *NUMERIC_RULE_COLUMNS)
    if policy.value_model.recurring_:
        needed = (*needed, RECURRING_REVENUE)
    if any(name not in position for name in needed) or COUNTRY not in feature_kinds:
        return None
    models = [(explainer.parts.preprocessor, explainer.parts.columns)]
    models.append((hazard_model.preprocessor_, hazard_model.columns))
    if reach_model is not None:
        models.append((reach_model.preprocessor_, reach_model.columns))
    encoders = [Encoder.of(preprocessor, cols, position) for preprocessor, cols in models]
    if any(encoder is None for encoder in encoders):
        return None
    categorical = tuple(dict.fromkeys(name for _, cols in models for name in cols.categorical))
    if any(name not in feature_kinds for name in categorical):
        return None
    if explainer.parts.calibration is None:
        calibrators: tuple[Any, ...] = ()
    else:
        calibrators = tuple(
            fold.calibrators[0] for fold in explainer.parts.calibration.calibrated_classifiers_
        )
    assert explainer._booster is not None
    return FastExplainer(
        numeric_names=numeric_names,
        categorical_names=categorical,
        churn=encoders[0],
        churn_columns=explainer.parts.columns,
        booster=explainer._booster,
        iteration_range=(0, explainer._iterations),
        regroup=explainer._matrix,
        calibrators=calibrators,
        reason_plan=ReasonPlan.of(explainer.features, top_reasons, reason_min_log_odds),
        policy=policy,
        reach=encoders[2] if reach_model is not None else None,
        hazard=encoders[1],
        value_model=policy.value_model,
        reach_trees=_reach_trees(reach_model),
        trees=tree_ensemble(explainer._booster, (0, explainer._iterations)),
    )


def _reach_trees(reach_model: Any) -> TreeEnsemble | None:
    """The reach classifier's trees for :class:`TreeEnsemble` (``predict_proba`` uses every
    tree unless early stopping kept fewer), or None."""
    if reach_model is None or not isinstance(reach_model.classifier_, XGBClassifier):
        return None
    classifier = reach_model.classifier_
    if not np.isnan(classifier.missing) or list(classifier.classes_) != [0, 1]:
        return None
    try:
        rounds = int(classifier.best_iteration) + 1
    except AttributeError:
        rounds = 0
    return tree_ensemble(classifier.get_booster(), (0, rounds))


def _number(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
