"""Path-dependent TreeSHAP for HistGradientBoosting against brute-force Shapley values of the
same value function, on a tiny model with a categorical split, a missing value and an unseen
category; and against shap itself where shap is right (numeric features only)."""

from __future__ import annotations

from itertools import combinations
from math import factorial

import numpy as np
import pytest
import shap
from sklearn.ensemble import HistGradientBoostingClassifier

from models.explain.treeshap import hist_gradient_boosting_shap


def _data(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    inputs = rng.normal(size=(rows, 3))
    inputs[:, 2] = rng.integers(0, 5, rows)  # a category code
    inputs[rng.random(rows) < 0.1, 0] = np.nan
    labels = (np.nan_to_num(inputs[:, 0]) + np.isin(inputs[:, 2], [1, 3]) > 0.8).astype(int)
    return inputs, labels


def _path_value(classifier: HistGradientBoostingClassifier, row: np.ndarray, known: set) -> float:
    """E[f(x) | x_S] the path-dependent way, by recursion over every tree (brute force)."""
    internal = classifier._preprocess_X(row[None, :], reset=False)[0]
    order = [2, 0, 1]  # the estimator puts the categorical column first
    total = float(np.ravel(classifier._baseline_prediction)[0])
    for (predictor,) in classifier._predictors:
        nodes = predictor.nodes

        def value(index: int, nodes: np.ndarray = nodes, predictor: object = predictor) -> float:
            node = nodes[index]
            if node["is_leaf"]:
                return float(node["value"])
            left, right = int(node["left"]), int(node["right"])
            if order[node["feature_idx"]] in known:
                x = internal[node["feature_idx"]]
                if np.isnan(x):
                    goes_left = bool(node["missing_go_to_left"])
                elif node["is_categorical"]:
                    bits = predictor.raw_left_cat_bitsets[node["bitset_idx"]]  # type: ignore[attr-defined]
                    goes_left = bool((int(bits[int(x) // 32]) >> (int(x) % 32)) & 1)
                else:
                    goes_left = x <= node["num_threshold"]
                return value(left if goes_left else right)
            share = nodes[left]["count"] / node["count"]
            return share * value(left) + (1 - share) * value(right)

        total += value(0)
    return total


def _brute_force(classifier: HistGradientBoostingClassifier, row: np.ndarray) -> np.ndarray:
    features = range(row.size)
    phi = np.zeros(row.size)
    for i in features:
        others = [j for j in features if j != i]
        for size in range(len(others) + 1):
            weight = factorial(size) * factorial(row.size - size - 1) / factorial(row.size)
            for subset in combinations(others, size):
                with_i = _path_value(classifier, row, {*subset, i})
                without = _path_value(classifier, row, set(subset))
                phi[i] += weight * (with_i - without)
    return phi


def test_values_equal_brute_force_shapley_with_categorical_splits() -> None:
    inputs, labels = _data()
    classifier = HistGradientBoostingClassifier(
        max_iter=4, max_leaf_nodes=6, categorical_features=[False, False, True], random_state=0
    ).fit(inputs, labels)
    rows = inputs[:6].copy()
    rows[1, 2] = 9.0  # a category never seen in training
    rows[2, 2] = np.nan
    assert any(n["is_categorical"] for (p,) in classifier._predictors for n in p.nodes)

    values, base = hist_gradient_boosting_shap(classifier, rows)

    for position, row in enumerate(rows):
        np.testing.assert_allclose(values[position], _brute_force(classifier, row), atol=1e-10)
    np.testing.assert_allclose(
        base + values.sum(axis=1), classifier.decision_function(rows), atol=1e-10
    )


def test_values_equal_shaps_on_numeric_features() -> None:
    inputs, labels = _data()
    classifier = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(inputs, labels)
    explainer = shap.TreeExplainer(classifier)

    values, base = hist_gradient_boosting_shap(classifier, inputs[:100])

    expected = explainer.shap_values(inputs[:100], check_additivity=False)
    np.testing.assert_allclose(values, expected, atol=1e-9)
    assert base == pytest.approx(float(np.ravel(explainer.expected_value)[0]))
