"""Candidate churn classifiers as one scikit-learn Pipeline each: preprocessing inside the model.

Serving gets a single artefact that takes the raw feature columns (numbers with nulls, category
strings) and returns probabilities, so training and scoring can never preprocess differently.

* ``logistic_regression``: median-imputed (with missing indicators), standardised numerics and
  one-hot categoricals into an L2-regularised logistic regression — the baseline.
* ``hist_gradient_boosting`` and ``random_forest``: numerics as they are (both handle nulls),
  categoricals ordinal-encoded (native categorical splits for the gradient boosting).
* ``xgboost``: ``tree_method="hist"``, nulls native, one-hot categoricals, early stopping on the
  validation cutoff.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)
from threadpoolctl import threadpool_limits
from xgboost import XGBClassifier

from core.layout import MISSING_CATEGORY
from core.logging import get_logger
from core.names import absent_names
from models.split import KEYS, LABEL

_log = get_logger(__name__)

KINDS = ("logistic_regression", "hist_gradient_boosting", "random_forest", "xgboost")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic_regression": {"C": 1.0, "max_iter": 2000},
    "hist_gradient_boosting": {
        "learning_rate": 0.1,
        "max_iter": 150,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 40,
        "l2_regularization": 1.0,
        "early_stopping": False,
    },
    "random_forest": {"n_estimators": 300, "min_samples_leaf": 20, "max_features": "sqrt"},
    "xgboost": {
        "n_estimators": 1000,
        "learning_rate": 0.05,
        "max_depth": 5,
        "min_child_weight": 5.0,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
        "early_stopping_rounds": 50,
    },
}


class CandidateError(ValueError):
    """A candidate's kind, params or input columns cannot make a model."""


@dataclass(frozen=True)
class FeatureColumns:
    """The model's inputs, split by how they are preprocessed."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def as_dict(self) -> dict[str, list[str]]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> FeatureColumns:
        """The columns :meth:`as_dict` recorded (train writes them into ``registered.json``): what
        scoring with the model needs, since a feature table may hold columns the model left out,
        such as one without any value."""
        return cls(numeric=tuple(recorded["numeric"]), categorical=tuple(recorded["categorical"]))

    def with_values_in(self, frame: pd.DataFrame) -> FeatureColumns:
        """These columns less those without a single value in ``frame``.

        For a model fitted on a subset of the rows the champion was trained on (the customers who
        stayed, say): a column can hold values overall and none there, such as the days since a
        subscription ended among customers whose subscription is still running. Such a column
        informs nothing, and histogram gradient boosting cannot even bin it.
        """
        empty = {c for c in self.all if frame[c].isna().all()} if len(frame) else set()
        if not empty:
            return self
        return FeatureColumns(
            numeric=tuple(c for c in self.numeric if c not in empty),
            categorical=tuple(c for c in self.categorical if c not in empty),
        )


MAX_CATEGORIES = 255
"""The most distinct values a categorical feature may have: histogram gradient boosting's native
categorical splits take at most 255, and a one-hot of more would be a wide dense matrix of mostly
single customers. A text attribute beyond it is an identifier, e-mail or postcode rather than a
category, and personal data the model should not learn."""


def feature_columns(frame: pd.DataFrame, excluded: Sequence[str] = ()) -> FeatureColumns:
    """Every column but the keys and the label that a model can take; text, boolean and category
    columns are categorical, number columns numeric. The rest is left out, with a log line each:

    * a column ``excluded`` names, exactly or as a glob (``train.exclude_features``); a name
      that misspells a column raises ``SettingNameError`` (a typo would silently keep the
      column), one that matches no column at all is logged;
    * a column without a single value in ``frame`` (an optional field the export never fills):
      it cannot inform a model, and histogram gradient boosting cannot even bin it;
    * a column neither number nor category (a date or timestamp attribute of ``customers``):
      no model here reads it; an age or a tenure in the export, as a number, would be used;
    * a categorical column of more than :data:`MAX_CATEGORIES` distinct values.

    Pass the training rows: a column is only worth a model input if those rows hold values.
    """
    names = [c for c in frame.columns if c not in (*KEYS, LABEL)]
    names = _without_excluded(names, excluded)
    if len(frame):
        empty = [c for c in names if frame[c].isna().all()]
        if empty:
            _log.warning("feature columns without any value left out", columns=empty)
            names = [c for c in names if c not in empty]
    categorical = [c for c in names if _is_categorical(frame[c])]
    numeric = [c for c in names if c not in categorical and _is_number(frame[c])]
    other = [c for c in names if c not in categorical and c not in numeric]
    if other:
        _log.warning(
            "feature columns neither number nor category left out (store dates as numbers, "
            "such as an age in days, to use them)",
            columns={c: str(frame[c].dtype) for c in other},
        )
    wide = {c: int(frame[c].nunique()) for c in categorical}
    wide = {c: n for c, n in wide.items() if n > MAX_CATEGORIES}
    if wide:
        _log.warning(
            f"categorical feature columns of more than {MAX_CATEGORIES} distinct values left out "
            "(an identifier, e-mail or postcode is no category: export a coarser one)",
            distinct_values=wide,
        )
        categorical = [c for c in categorical if c not in wide]
    if not numeric and not categorical:
        raise CandidateError("the feature table has no feature columns besides keys and label")
    return FeatureColumns(numeric=tuple(numeric), categorical=tuple(categorical))


def _without_excluded(names: list[str], excluded: Sequence[str]) -> list[str]:
    dropped = [name for name in names if any(fnmatchcase(name, rule) for rule in excluded)]
    absent_names({"train.exclude_features": excluded}, names)  # a misspelt name: refused
    unmatched = [rule for rule in excluded if not any(fnmatchcase(n, rule) for n in names)]
    if dropped:
        _log.info("feature columns excluded by train.exclude_features", columns=dropped)
    if unmatched:
        _log.warning("train.exclude_features entries match no feature column", entries=unmatched)
    return [name for name in names if name not in dropped]


_NUMBER_OBJECTS = frozenset({"decimal", "integer", "floating", "mixed-integer-float", "empty"})


def _is_number(column: pd.Series) -> bool:
    """Numbers, including object columns of them (a Parquet decimal reads as ``Decimal``s)."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return False
    if pd.api.types.is_numeric_dtype(column.dtype):
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column) in _NUMBER_OBJECTS


def _is_categorical(column: pd.Series) -> bool:
    return (
        pd.api.types.is_bool_dtype(column.dtype)
        or isinstance(column.dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(column)
        or is_boolean_objects(column)
    )


def is_boolean_objects(column: pd.Series) -> bool:
    """An object column of booleans and nulls: how pandas reads a Parquet boolean with nulls
    (a yes/no attribute the CRM left blank for some customers). A category, like a boolean."""
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) == "boolean"


def model_inputs(frame: pd.DataFrame, columns: FeatureColumns) -> pd.DataFrame:
    """The feature columns in model order, categoricals as plain strings with nulls named.

    Booleans and pandas' string dtype become object strings, so the encoders (and MLflow's
    signature) see one stable type whatever dtype a Parquet reader produced.
    """
    missing = [c for c in columns.all if c not in frame.columns]
    if missing:
        raise CandidateError(f"feature columns missing from the input: {missing}")
    # Built column block by column block and assembled once: casting column by column on a copy
    # costs ~20 ms per call in pandas whatever the row count, which dominated one-row scoring.
    # The values and dtypes are those of per-column ``astype("float64")`` and of
    # ``astype(object).where(notna, MISSING_CATEGORY).astype(str).astype(object)``.
    numeric = pd.DataFrame(
        _float_matrix(frame, columns.numeric), index=frame.index, columns=list(columns.numeric)
    )
    strings = [_category_strings(frame[name]) for name in columns.categorical]
    categorical = pd.DataFrame(
        np.column_stack(strings) if strings else np.empty((len(frame), 0), dtype=object),
        index=frame.index,
        columns=list(columns.categorical),
        dtype=object,
    )
    return pd.concat([numeric, categorical], axis=1)


def _float_matrix(frame: pd.DataFrame, names: tuple[str, ...]) -> np.ndarray:
    """``names`` as one float64 matrix (rows × names).

    Plain numpy integer and float columns convert in one step (the same cast ``astype`` does);
    any other dtype (nullable integers, objects) goes through its own ``astype("float64")``.
    """
    subset = frame[list(names)]
    plain = [isinstance(d, np.dtype) and d.kind in "iuf" for d in subset.dtypes]
    if all(plain):
        return subset.to_numpy(dtype="float64")
    matrix = np.empty((len(frame), len(names)), dtype="float64")
    for i in range(len(names)):
        column = subset.iloc[:, i]
        matrix[:, i] = column.to_numpy(dtype="float64") if plain[i] else column.astype("float64")
    return matrix


def _category_strings(column: pd.Series) -> np.ndarray:
    """Category values as an object array of ``str``, nulls as :data:`MISSING_CATEGORY`."""
    values = column.to_numpy(dtype=object)
    missing = pd.isna(values)
    strings = [
        MISSING_CATEGORY if null else str(value)
        for value, null in zip(values, missing, strict=True)
    ]
    return np.array(strings, dtype=object)


def default_params(kind: str) -> dict[str, Any]:
    """The settings a candidate starts from before ``params.yaml`` and the search change them."""
    if kind not in _DEFAULTS:
        raise CandidateError(f"unknown candidate kind {kind!r}; expected one of {KINDS}")
    return dict(_DEFAULTS[kind])


def build_preprocessor(kind: str, columns: FeatureColumns) -> ColumnTransformer:
    """The column transformer for ``kind``: numerics first, then categoricals."""
    if kind == "logistic_regression":
        numeric: Any = make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler(),
        )
        categorical: Any = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    elif kind == "xgboost":
        numeric = "passthrough"
        categorical = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    else:
        numeric = "passthrough"
        categorical = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1
        )
    return ColumnTransformer(
        [
            ("numeric", numeric, list(columns.numeric)),
            ("categorical", categorical, list(columns.categorical)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )


def build_classifier(
    kind: str,
    params: Mapping[str, Any],
    columns: FeatureColumns,
    seed: int,
    n_jobs: int,
    positive_weight: float | None,
) -> Any:
    """The estimator for ``kind`` with ``params`` over its defaults.

    ``positive_weight`` (negatives / positives) reweights the churn class; ``None`` leaves the
    classes as they are.
    """
    settings = default_params(kind) | dict(params)
    balanced = "balanced" if positive_weight is not None else None
    try:
        if kind == "logistic_regression":
            return LogisticRegression(**settings, class_weight=balanced, random_state=seed)
        if kind == "hist_gradient_boosting":
            mask = [False] * len(columns.numeric) + [True] * len(columns.categorical)
            return HistGradientBoostingClassifier(
                **settings,
                categorical_features=mask if columns.categorical else None,
                class_weight=balanced,
                random_state=seed,
            )
        if kind == "random_forest":
            return RandomForestClassifier(
                **settings, class_weight=balanced, random_state=seed, n_jobs=n_jobs
            )
        return XGBClassifier(
            **settings,
            tree_method="hist",
            objective="binary:logistic",
            eval_metric="logloss",
            scale_pos_weight=positive_weight if positive_weight is not None else 1.0,
            random_state=seed,
            n_jobs=n_jobs,
        )
    except TypeError as error:
        raise CandidateError(f"{kind}: invalid params {dict(params)}: {error}") from None


def positive_class_weight(labels: pd.Series | np.ndarray) -> float:
    """Negatives per positive: the weight that balances the two classes."""
    positives = int(np.sum(labels))
    if positives == 0 or positives == len(labels):
        raise CandidateError("training labels hold a single class; cannot fit a classifier")
    return (len(labels) - positives) / positives


def fit_candidate(
    kind: str,
    params: Mapping[str, Any],
    columns: FeatureColumns,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    seed: int,
    n_jobs: int = 1,
    class_weight: str = "balanced",
) -> Pipeline:
    """Fit preprocessing and classifier on ``train``; XGBoost stops early on ``validation``.

    The preprocessor is fitted on training rows only, then validation rows go through it for the
    early-stopping evaluation set, so no validation statistic leaks into the features.
    """
    x_train = model_inputs(train, columns)
    empty = [c for c in columns.all if c not in columns.with_values_in(train).all]
    if empty:
        raise CandidateError(
            f"feature column(s) {empty} hold no value in the {len(train):,} training rows: no "
            "model can learn from them (histogram gradient boosting cannot even bin them)"
        )
    y_train = train[LABEL].to_numpy(dtype=int)
    weight = positive_class_weight(y_train) if class_weight == "balanced" else None
    preprocessor = build_preprocessor(kind, columns).fit(x_train)
    classifier = build_classifier(kind, params, columns, seed, n_jobs, weight)
    features = preprocessor.transform(x_train)
    # The raw inputs (object strings included) are about as large as the matrix made from them
    # and unused from here on: freed, they do not sit beside the classifier's copy of the data.
    del x_train
    # OpenMP/BLAS pools default to every core; a fixed count keeps runs comparable and lets two
    # stages share a machine without oversubscription.
    with threadpool_limits(limits=n_jobs):
        if kind == "xgboost":
            x_valid = preprocessor.transform(model_inputs(validation, columns))
            y_valid = validation[LABEL].to_numpy(dtype=int)
            classifier.fit(features, y_train, eval_set=[(x_valid, y_valid)], verbose=False)
        else:
            classifier.fit(features, y_train)
    return Pipeline([("preprocess", preprocessor), ("classifier", classifier)])


def fitted_settings(model: Pipeline) -> dict[str, Any]:
    """What the fit decided that params did not say: XGBoost's early-stopped tree count."""
    classifier = model.named_steps["classifier"]
    if isinstance(classifier, XGBClassifier) and classifier.best_iteration is not None:
        return {"best_iteration": int(classifier.best_iteration)}
    if isinstance(classifier, HistGradientBoostingClassifier):
        return {"n_iter": int(classifier.n_iter_)}
    return {}


def preprocess_rows(preprocessor: ColumnTransformer, inputs: pd.DataFrame) -> np.ndarray:
    """``preprocessor.transform(inputs)`` as a float64 matrix, with numpy where it can.

    ``inputs`` are :func:`model_inputs` rows (numerics first, then categoricals). For the
    transformers :func:`build_preprocessor` makes for XGBoost and the logistic regression
    (numeric passthrough or median imputation with missing indicators and standardisation;
    one-hot categoricals that ignore unknown values), the same fitted statistics are applied to
    arrays: scikit-learn's per-call DataFrame handling costs milliseconds for one row, the
    arithmetic microseconds, and the numbers are the same (``tests/models/test_candidates.py``
    pins them bit for bit). Any other transformer goes through ``preprocessor.transform``.
    """
    plan = _dense_plans.get(preprocessor) if _weakrefable(preprocessor) else None
    if plan is None or plan.fitted is not preprocessor.transformers_:  # new, or refitted since
        plan = DensePlan.of(preprocessor)
        if _weakrefable(preprocessor):
            _dense_plans[preprocessor] = plan
    if not plan.usable or list(inputs.columns) != plan.columns:
        return np.asarray(preprocessor.transform(inputs), dtype=float)
    numeric = inputs.iloc[:, : plan.n_numeric].to_numpy(dtype="float64")
    blocks = [plan.numeric(numeric)]
    for position, known in enumerate(plan.categories):
        column = inputs.iloc[:, plan.n_numeric + position].to_numpy(dtype=object)
        blocks.append((column[:, None] == known[None, :]).astype("float64"))
    return np.hstack(blocks)


@dataclass(frozen=True)
class DensePlan:
    """What :func:`preprocess_rows` needs from one fitted ColumnTransformer (``usable`` False:
    a shape it does not reproduce)."""

    usable: bool
    fitted: Any  # the ColumnTransformer's transformers_ this plan was read from
    columns: list[str]
    n_numeric: int
    categories: tuple[np.ndarray, ...]
    imputer: Any = None  # fitted SimpleImputer or None (passthrough)
    scaler: Any = None

    def numeric(self, matrix: np.ndarray) -> np.ndarray:
        if self.imputer is None:
            return matrix
        # SimpleImputer.transform: statistics into the missing cells, then the fit-time
        # missing-indicator columns; StandardScaler.transform: minus mean_, divided by scale_
        missing = np.isnan(matrix)
        imputed = np.where(missing, self.imputer.statistics_.astype("float64"), matrix)
        indicator = self.imputer.indicator_
        if indicator is not None:
            imputed = np.hstack([imputed, missing[:, indicator.features_]])
        if self.scaler.with_mean:
            imputed = imputed - self.scaler.mean_
        if self.scaler.with_std:
            imputed = imputed / self.scaler.scale_
        return imputed

    @classmethod
    def of(cls, preprocessor: ColumnTransformer) -> DensePlan:
        fitted = preprocessor.transformers_
        unusable = cls(usable=False, fitted=fitted, columns=[], n_numeric=0, categories=())
        parts = {name: (step, list(cols)) for name, step, cols in fitted}
        remainder = parts.pop("remainder", ("drop", []))
        if set(parts) != {"numeric", "categorical"} or (remainder[0] != "drop" and remainder[1]):
            return unusable
        (numeric, numeric_columns), (encoder, categorical_columns) = (
            parts["numeric"],
            parts["categorical"],
        )
        imputer = scaler = None
        if isinstance(numeric, Pipeline) and len(numeric.steps) == 2:
            imputer, scaler = numeric.steps[0][1], numeric.steps[1][1]
            if not (
                isinstance(imputer, SimpleImputer)
                and isinstance(scaler, StandardScaler)
                and imputer.keep_empty_features
                and isinstance(imputer.missing_values, float)
                and np.isnan(imputer.missing_values)
                and np.asarray(imputer.statistics_).dtype.kind == "f"
            ):
                return unusable
        elif not _is_passthrough(numeric):
            return unusable
        categories: tuple[np.ndarray, ...] = ()
        if categorical_columns:
            if not (
                isinstance(encoder, OneHotEncoder)
                and encoder.handle_unknown == "ignore"
                and encoder.drop_idx_ is None
                and not getattr(encoder, "_infrequent_enabled", False)
                and not encoder.sparse_output
                and np.dtype(encoder.dtype) == np.float64
            ):
                return unusable
            categories = tuple(np.asarray(known, dtype=object) for known in encoder.categories_)
        return cls(
            usable=True,
            fitted=fitted,
            columns=[*numeric_columns, *categorical_columns],
            n_numeric=len(numeric_columns),
            categories=categories,
            imputer=imputer,
            scaler=scaler,
        )


def _is_passthrough(step: Any) -> bool:
    """``passthrough``, which a fitted ColumnTransformer holds as a FunctionTransformer."""
    if isinstance(step, str):
        return step == "passthrough"
    return isinstance(step, FunctionTransformer) and step.func is None


def _weakrefable(item: Any) -> bool:
    try:
        weakref.ref(item)
    except TypeError:
        return False
    return True


_dense_plans: weakref.WeakKeyDictionary[Any, DensePlan] = weakref.WeakKeyDictionary()
