"""SHAP contributions: additivity, one-hot regrouping, served probabilities, and the pinned
shap/xgboost pair (a freshly trained XGBoost model explained by shap and by XGBoost agree)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import shap
import xgboost
from xgboost import XGBClassifier

from models.calibration import calibrate
from models.candidates import FeatureColumns, feature_columns, fit_candidate, model_inputs
from models.explain import ChurnExplainer, ExplainError, explain_rows
from models.explain.contributions import NEAR_BASE, Explanation
from models.explain.mapping import input_owners, regrouping_matrix
from models.explain.model_parts import model_parts
from models.split import plan_split, split_frame
from tests.models.frames import CUTOFFS, feature_table

FAST = {
    "xgboost": {"n_estimators": 60, "early_stopping_rounds": 10, "max_depth": 4},
    "hist_gradient_boosting": {"max_iter": 30},
    "random_forest": {"n_estimators": 30},
    "logistic_regression": {},
}


def _fit(kind: str, calibration: str = "isotonic", class_weight: str = "balanced") -> tuple:
    table = feature_table(customers=150)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    fitted = fit_candidate(
        kind, FAST[kind], columns, frames.train, frames.validation, 3, class_weight=class_weight
    )
    inputs = model_inputs(frames.validation, columns)
    model = calibrate(fitted, inputs, frames.validation["churned"].to_numpy(), calibration)
    return model, frames.test, columns


@pytest.fixture(scope="module")
def xgb_model() -> tuple[Any, pd.DataFrame, FeatureColumns]:
    return _fit("xgboost")


@pytest.mark.parametrize(
    ("kind", "calibration", "path"),
    [
        ("xgboost", "isotonic", "xgboost_native"),
        ("xgboost", "none", "xgboost_native"),
        ("hist_gradient_boosting", "sigmoid", "hist_treeshap"),
        ("random_forest", "isotonic", "shap_tree"),
        ("logistic_regression", "sigmoid", "linear"),
    ],
)
def test_base_plus_contributions_equals_the_margin(kind: str, calibration: str, path: str) -> None:
    model, test, columns = _fit(kind, calibration)

    explanation = explain_rows(model, test)

    total = explanation.base_value + explanation.contributions.sum(axis=1).to_numpy()
    np.testing.assert_allclose(total, explanation.margin, atol=1e-4, rtol=0)
    assert explanation.path == path
    assert list(explanation.contributions.columns) == columns.all
    np.testing.assert_allclose(
        explanation.churn_probability, model.predict_proba(model_inputs(test, columns))[:, 1]
    )


def test_margin_is_the_early_stopped_models_raw_score(xgb_model: tuple) -> None:
    model, test, columns = xgb_model
    classifier = model_parts(model).classifier
    inputs = model_parts(model).preprocessor.transform(model_inputs(test, columns))

    explanation = explain_rows(model, test)

    assert classifier.best_iteration + 1 < classifier.get_booster().num_boosted_rounds()
    expected = classifier.predict_proba(inputs)[:, 1]  # uses the best iteration only
    np.testing.assert_allclose(1 / (1 + np.exp(-explanation.margin)), expected, atol=1e-6)


def test_one_hot_columns_are_summed_back_into_their_categorical(xgb_model: tuple) -> None:
    model, test, columns = xgb_model
    parts = model_parts(model)
    inputs = parts.preprocessor.transform(model_inputs(test, columns))
    booster = parts.classifier.get_booster()
    rounds = (0, parts.classifier.best_iteration + 1)
    raw = booster.predict(xgboost.DMatrix(inputs), pred_contribs=True, iteration_range=rounds)
    owners = input_owners(parts.preprocessor)

    explanation = explain_rows(model, test)

    plan_columns = [i for i, owner in enumerate(owners) if owner == "static_plan"]
    assert len(plan_columns) == 2  # basic, plus
    np.testing.assert_allclose(
        explanation.contributions["static_plan"], raw[:, plan_columns].sum(axis=1), atol=1e-6
    )
    np.testing.assert_allclose(
        explanation.contributions.sum(axis=1), raw[:, :-1].sum(axis=1), atol=1e-5
    )
    assert explanation.base_value == pytest.approx(float(raw[0, -1]))


def test_missing_value_indicators_are_summed_into_their_feature() -> None:
    model, _test, _columns = _fit("logistic_regression", "none")
    owners = input_owners(model_parts(model).preprocessor)

    assert owners.count("rfm_days_since_last_order") == 2  # the value and its missing flag
    assert len(owners) == model_parts(model).classifier.coef_.shape[1]


def test_probability_contributions_add_up_to_the_served_probability(xgb_model: tuple) -> None:
    model, test, _ = xgb_model

    explanation = explain_rows(model, test)
    points = explanation.probability_contributions()

    total = explanation.base_probability + points.sum(axis=1).to_numpy()
    step = explanation.margin - explanation.base_value
    far = np.abs(step) >= NEAR_BASE
    assert far.sum() > len(test) / 2
    np.testing.assert_allclose(total[far], explanation.churn_probability[far], atol=1e-6)
    assert explanation.near_base_slope is not None
    np.testing.assert_allclose(  # near the base: the calibrated map's average slope there
        total[~far] - explanation.base_probability, explanation.near_base_slope * step[~far]
    )
    moved = explanation.contributions.to_numpy() * points.to_numpy()
    assert (moved >= -1e-12).all()  # same sign in both scales


def test_a_calibration_step_beside_the_base_does_not_blow_probability_points_up() -> None:
    contributions = pd.DataFrame({"recency": [1.2, 0.03, -0.01], "spend": [-0.2, 0.01, -0.02]})
    explanation = Explanation(
        contributions=contributions,
        base_value=0.0,
        margin=contributions.sum(axis=1).to_numpy(),
        churn_probability=np.array([0.80, 0.57, 0.40]),  # an isotonic step right at the base
        base_probability=0.46,
        values=contributions,
        path="xgboost_native",
        near_base_slope=0.2,
    )

    points = explanation.probability_contributions()

    assert points.loc[0].sum() == pytest.approx(0.80 - 0.46)  # far from the base: exact
    np.testing.assert_allclose(points.loc[1], [0.006, 0.002])  # the secant would give 2.75x
    assert points.abs().to_numpy().max() <= 1.0


@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_served_probability_of_a_margin_matches_predict_proba(calibration: str) -> None:
    model, test, _columns = _fit("xgboost", calibration)
    explanation = explain_rows(model, test)

    served = model_parts(model).served_probability(explanation.margin)

    np.testing.assert_allclose(served, explanation.churn_probability, atol=1e-6)


def test_pinned_shap_explains_a_fresh_xgboost_model_like_xgboost_itself() -> None:
    """The compatibility smoke test: without class weights XGBoost fits a base_score away from
    0.5 (the value whose storage format changed in XGBoost 3.1); shap must read it correctly."""
    model, test, columns = _fit("xgboost", "none", class_weight="none")
    parts = model_parts(model)
    inputs = parts.preprocessor.transform(model_inputs(test, columns))
    config = json.loads(parts.classifier.get_booster().save_config())
    base_score = config["learner"]["learner_model_param"]["base_score"]
    assert float(base_score.strip("[]")) != pytest.approx(0.5)
    explainer = shap.TreeExplainer(parts.classifier)

    values = explainer.shap_values(inputs)  # check_additivity on: raises if it does not add up
    explanation = explain_rows(model, test)

    matrix = regrouping_matrix(input_owners(parts.preprocessor), columns.all)
    np.testing.assert_allclose(values @ matrix, explanation.contributions.to_numpy(), atol=1e-5)
    assert float(np.ravel(explainer.expected_value)[0]) == pytest.approx(
        explanation.base_value, abs=1e-5
    )


def test_rows_without_a_feature_column_name_it() -> None:
    model, test, _ = _fit("logistic_regression", "none")

    with pytest.raises(ExplainError, match=r"rfm_spend_365d.*snapshot"):
        explain_rows(model, test.drop(columns=["rfm_spend_365d"]))


def test_explainer_is_built_once_per_model(
    xgb_model: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, test, _ = xgb_model
    explain_rows(model, test.head(3))
    built = []
    original = ChurnExplainer.from_model.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        ChurnExplainer,
        "from_model",
        classmethod(lambda cls, m, n_jobs=1: built.append(m) or original(cls, m, n_jobs)),
    )

    one = explain_rows(model, test.head(1))

    assert built == []
    assert len(one.contributions) == 1


def test_a_model_that_is_not_a_churn_pipeline_is_refused() -> None:
    with pytest.raises(ExplainError, match="Pipeline with steps"):
        ChurnExplainer.from_model(XGBClassifier())


@pytest.mark.parametrize("kind", ["xgboost", "logistic_regression", "hist_gradient_boosting"])
def test_a_model_without_categorical_features_is_explained(kind: str) -> None:
    """A ``customers`` table with no attributes leaves the categorical transformer without
    columns, and scikit-learn then leaves it unfitted: its mapping must simply own nothing."""
    table = feature_table(customers=150).drop(
        columns=["static_plan", "static_acquisition_channel", "static_loyalty_member"]
    )
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(frames.train)
    assert columns.categorical == ()
    fitted = fit_candidate(kind, FAST[kind], columns, frames.train, frames.validation, 3)

    # every output column owned by a numeric feature (logistic adds missing-value flags)
    assert set(input_owners(model_parts(fitted).preprocessor)) == set(columns.numeric)
    explanation = explain_rows(fitted, frames.test)
    assert list(explanation.contributions.columns) == list(columns.all)
