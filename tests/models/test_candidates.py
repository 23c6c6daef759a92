from __future__ import annotations

import datetime as dt
import decimal
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from structlog.testing import capture_logs

from core.names import SettingNameError
from models.candidates import (
    KINDS,
    CandidateError,
    FeatureColumns,
    build_preprocessor,
    feature_columns,
    fit_candidate,
    fitted_settings,
    model_inputs,
    preprocess_rows,
)
from models.split import plan_split, split_frame
from tests.models.frames import CUTOFFS, feature_table

FAST = {
    "logistic_regression": {},
    "hist_gradient_boosting": {"max_iter": 30},
    "random_forest": {"n_estimators": 30},
    "xgboost": {"n_estimators": 200, "early_stopping_rounds": 10},
}


def test_feature_columns_split_numbers_from_categories() -> None:
    columns = feature_columns(feature_table(customers=5))

    assert columns.categorical == (
        "static_plan",
        "static_acquisition_channel",
        "static_loyalty_member",
    )
    assert "churned" not in columns.all and "customer_id" not in columns.all
    assert "rfm_days_since_last_order" in columns.numeric


def test_excluded_features_by_name_or_glob_are_never_model_inputs() -> None:
    table = feature_table(customers=5)

    with capture_logs() as logs:
        columns = feature_columns(table, ["static_plan", "lifecycle_*", "static_gender"])

    assert columns.numeric == ("rfm_days_since_last_order", "rfm_spend_365d")
    assert columns.categorical == ("static_acquisition_channel", "static_loyalty_member")
    [unmatched] = [log for log in logs if log["log_level"] == "warning"]
    assert unmatched["entries"] == ["static_gender"]  # a typo or an absent column is named
    assert feature_columns(table) == feature_columns(table, [])


def test_a_misspelt_exclusion_is_refused_not_learnt_from() -> None:
    """Logged only, a typo would have the model learn the column it was meant to leave out."""
    table = feature_table(customers=5)

    with pytest.raises(SettingNameError, match="'static_pln' is not a column; did you mean"):
        feature_columns(table, ["static_pln"])


def test_model_inputs_name_nulls_and_stringify_categories() -> None:
    table = pd.DataFrame(
        {
            "static_plan": pd.array(["plus", None], dtype="str"),
            "static_loyalty_member": [True, False],
            "rfm_orders_30d": [1, 2],
        }
    )
    columns = feature_columns(table)

    inputs = model_inputs(table, columns)

    assert inputs["static_plan"].tolist() == ["plus", "missing"]
    assert inputs["static_loyalty_member"].tolist() == ["True", "False"]
    assert inputs["rfm_orders_30d"].dtype == np.float64


def test_a_yes_no_attribute_with_blanks_is_a_category() -> None:
    """pandas reads a Parquet boolean with nulls as an object column of True, False and None: a
    category like any boolean, not a column to leave out."""
    table = pd.DataFrame(
        {
            "static_newsletter": pd.array([True, None, False, True], dtype="boolean"),
            "rfm_orders_30d": [1, 2, 3, 4],
        }
    )
    read_back = table.assign(static_newsletter=table["static_newsletter"].astype(object))
    read_back.loc[1, "static_newsletter"] = None

    columns = feature_columns(read_back)

    assert read_back["static_newsletter"].dtype == object
    assert columns.categorical == ("static_newsletter",)
    inputs = model_inputs(read_back, columns)
    assert inputs["static_newsletter"].tolist() == ["True", "missing", "False", "True"]


def test_model_inputs_equal_the_column_by_column_casts_for_every_dtype() -> None:
    """The block-wise build gives exactly what casting each column on a copy gives."""
    table = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "static_plan": pd.array(["plus", None, "basic"], dtype="str"),
            "static_channel": pd.Categorical(["web", None, "web"]),
            "static_member": pd.array([True, None, False], dtype="boolean"),
            "static_flag": [True, False, True],
            "static_country": pd.Series(["DE", None, 3], dtype=object),
            "rfm_orders_30d": [1, 2, 3],
            "rfm_nullable": pd.array([1, None, 3], dtype="Int64"),
            "rfm_spend": [1.5, np.nan, -0.0],
            "rfm_small": np.array([1, 2, 3], dtype="int8"),
        },
        index=[7, 3, 9],
    )
    columns = feature_columns(table)
    expected = table[columns.all].copy()
    for name in columns.categorical:
        values = expected[name].astype(object)
        expected[name] = values.where(values.notna(), "missing").astype(str).astype(object)
    for name in columns.numeric:
        expected[name] = expected[name].astype("float64")

    inputs = model_inputs(table, columns)

    pd.testing.assert_frame_equal(inputs, expected, check_exact=True)
    assert inputs["static_member"].tolist() == ["True", "missing", "False"]
    assert np.signbit(inputs["rfm_spend"].to_numpy()[2])


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_learns_the_signal_and_scores_unseen_categories(kind: str) -> None:
    table = feature_table()
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)

    model = fit_candidate(kind, FAST[kind], columns, frames.train, frames.validation, seed=1)
    test = frames.test.assign(static_acquisition_channel="tv")  # never seen in training
    probabilities = model.predict_proba(model_inputs(test, columns))[:, 1]

    assert probabilities.shape == (len(test),)
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    assert roc_auc_score(test["churned"], probabilities) > 0.7


@pytest.mark.parametrize("kind", KINDS)
def test_a_feature_the_export_never_fills_is_left_out_and_every_kind_trains(kind: str) -> None:
    table = feature_table().assign(support_worst_response_hours=np.nan)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))

    columns = feature_columns(table)
    model = fit_candidate(kind, FAST[kind], columns, frames.train, frames.validation, seed=1)

    assert "support_worst_response_hours" not in columns.all
    assert "rfm_days_since_last_order" in columns.numeric
    assert model.predict_proba(model_inputs(frames.test, columns)).shape == (len(frames.test), 2)


def test_xgboost_stops_early_on_the_validation_cutoff() -> None:
    table = feature_table()
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    params = {"n_estimators": 2000, "learning_rate": 0.3, "early_stopping_rounds": 5}

    model = fit_candidate(
        "xgboost", params, feature_columns(table), frames.train, frames.validation, 1
    )

    assert fitted_settings(model)["best_iteration"] < 200


def test_unknown_params_name_the_candidate() -> None:
    table = feature_table(customers=30)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))

    with pytest.raises(CandidateError, match="logistic_regression: invalid params"):
        fit_candidate(
            "logistic_regression",
            {"depth": 3},
            feature_columns(table),
            frames.train,
            frames.validation,
            1,
        )


@pytest.mark.parametrize("kind", KINDS)
def test_preprocess_rows_equals_the_fitted_transformer(kind: str) -> None:
    """numpy path (xgboost, logistic) and fallback (ordinal encoders) give transform's numbers,
    with nulls where training had none, unknown categories and null categories."""
    table = feature_table(customers=60)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    preprocessor = build_preprocessor(kind, columns).fit(model_inputs(frames.train, columns))
    rows = frames.test.copy()
    rows.loc[rows.index[:3], "static_plan"] = None
    rows.loc[rows.index[3:6], "static_acquisition_channel"] = "carrier_pigeon"  # never seen
    rows.loc[rows.index[6:9], columns.numeric[:4]] = np.nan
    inputs = model_inputs(rows, columns)

    matrix = preprocess_rows(preprocessor, inputs)

    expected = np.asarray(preprocessor.transform(inputs), dtype=float)
    assert matrix.dtype == np.float64
    assert np.array_equal(matrix, expected, equal_nan=True)
    if kind == "logistic_regression":
        indicator = preprocessor.named_transformers_["numeric"].steps[0][1].indicator_
        assert len(indicator.features_) < len(columns.numeric)  # new nulls outside the mask


def test_dates_and_wide_categories_are_left_out_and_decimals_kept() -> None:
    """``customers`` attributes pass through the features as stored: a date (birth date), a
    timestamp (last login) or an e-mail cannot be a model input, a Parquet decimal can."""
    table = feature_table(customers=300)
    rows = len(table)
    table["static_birth_date"] = [
        dt.date(1980, 1, 1) + dt.timedelta(days=i % 9000) for i in range(rows)
    ]
    table["static_last_login"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(rows), "h")
    table["static_email"] = pd.array([f"c{i % 300}@example.com" for i in range(rows)], dtype="str")
    table["static_credit"] = [decimal.Decimal(i % 7) for i in range(rows)]

    columns = feature_columns(table)

    assert "static_credit" in columns.numeric
    assert not {"static_birth_date", "static_last_login", "static_email"} & set(columns.all)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    fit_candidate(
        "hist_gradient_boosting",
        FAST["hist_gradient_boosting"],
        columns,
        frames.train,
        frames.validation,
        0,
    )


def test_a_column_with_no_training_value_is_named_before_any_fit() -> None:
    """Histogram gradient boosting crashes deep in its binning on such a column."""
    table = feature_table(customers=60)
    frames = split_frame(table, plan_split(CUTOFFS, horizon_days=60))
    columns = feature_columns(table)
    train = frames.train.assign(rfm_spend_365d=np.nan)

    with pytest.raises(CandidateError, match=r"\['rfm_spend_365d'\] hold no value"):
        fit_candidate("xgboost", FAST["xgboost"], columns, train, frames.validation, 0)


def test_recorded_feature_columns_read_back_as_the_columns_train_recorded() -> None:
    columns = FeatureColumns(numeric=("a", "b"), categorical=("static_plan",))

    assert FeatureColumns.from_dict(json.loads(json.dumps(columns.as_dict()))) == columns
