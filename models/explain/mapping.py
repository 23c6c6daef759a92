"""Which model input column belongs to which original feature.

The classifier sees the preprocessor's output: one-hot columns per category, missing-value
indicators next to imputed numbers. SHAP values are additive, so the contribution of an original
feature is the sum of its input columns' contributions; this module builds the 0/1 matrix that
does that sum, so every path (XGBoost, TreeExplainer, linear) regroups the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    StandardScaler,
)


class MappingError(ValueError):
    """A preprocessing step whose output columns cannot be traced back to its inputs."""


def input_owners(preprocessor: ColumnTransformer) -> list[str]:
    """The original feature behind each output column of the fitted ``preprocessor``, in order."""
    owners: list[str] = []
    for name, transformer, columns in preprocessor.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        if len(columns) == 0:
            # scikit-learn leaves a transformer of no columns unfitted (a ``customers`` table
            # without attributes has no categoricals): it makes no output column to own
            continue
        owners += _owners(transformer, list(columns), name)
    return owners


def regrouping_matrix(owners: Sequence[str], features: Sequence[str]) -> np.ndarray:
    """``(len(owners), len(features))`` 0/1 matrix: ``inputs @ matrix`` sums columns per feature.

    Each input column has exactly one owner, so row sums are 1 and the total is preserved.
    """
    index = {feature: position for position, feature in enumerate(features)}
    unknown = sorted({owner for owner in owners if owner not in index})
    if unknown:
        raise MappingError(f"model input columns owned by unknown features: {unknown}")
    matrix = np.zeros((len(owners), len(features)))
    matrix[np.arange(len(owners)), [index[owner] for owner in owners]] = 1.0
    return matrix


def _owners(transformer: Any, columns: list[str], name: str) -> list[str]:
    if isinstance(transformer, str):
        if transformer == "passthrough":
            return columns
        raise MappingError(f"transformer {name!r}: unsupported {transformer!r}")
    if isinstance(transformer, Pipeline):
        owners = columns
        for step_name, step in transformer.steps:
            owners = _owners(step, owners, f"{name}.{step_name}")
        return owners
    if isinstance(transformer, OneHotEncoder):
        if transformer.drop_idx_ is not None or getattr(transformer, "_infrequent_enabled", False):
            raise MappingError(f"{name}: one-hot with drop or infrequent categories is not mapped")
        return [c for c, cats in zip(columns, transformer.categories_, strict=True) for _ in cats]
    if isinstance(transformer, OrdinalEncoder | StandardScaler):
        return columns
    if isinstance(transformer, FunctionTransformer) and transformer.func is None:
        return columns  # what a fitted "passthrough" becomes
    if isinstance(transformer, SimpleImputer):
        kept = columns
        if not transformer.keep_empty_features:
            kept = [c for c, s in zip(columns, transformer.statistics_, strict=True) if s == s]
        indicator = transformer.indicator_
        flagged = [] if indicator is None else [columns[i] for i in indicator.features_]
        return kept + flagged
    raise MappingError(
        f"transformer {name!r} ({type(transformer).__name__}) has no known column mapping; "
        "supported: passthrough, OneHotEncoder, OrdinalEncoder, SimpleImputer, StandardScaler"
    )
