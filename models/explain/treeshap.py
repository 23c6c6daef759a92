"""Exact path-dependent TreeSHAP for scikit-learn's HistGradientBoosting, categorical splits too.

shap's TreeExplainer reads HistGradientBoosting's categorical splits (bitsets of categories that
go left) as numeric thresholds, and its values then do not add up (shap issue #3436). TreeSHAP
itself only needs to know, per split, which way a row goes and what share of the training rows
went each way, so this module computes it directly from the fitted trees.

For one leaf, let ``F`` be the distinct features on its path; for feature ``j``, ``z_j`` is the
product of the cover fractions of its splits on the path and ``o_j`` is 1 when the row takes all
of them. The leaf adds ``v * prod_{j in S} o_j * prod_{j in F - S} z_j`` to the path-dependent
value of a coalition ``S`` (Lundberg et al. 2018), a product game whose Shapley value is
``v * (o_i - z_i) * sum_s w(s) c_s`` with ``c_s`` the coefficients of
``prod_{j != i} (z_j + o_j t)`` and ``w(s) = s! (d - s - 1)! / d!``. Rows with the same
``o`` pattern share their values, so each leaf is solved once per pattern (at most ``2^d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import factorial
from typing import Any

import numpy as np


@dataclass(frozen=True)
class _Leaf:
    value: float
    features: tuple[int, ...]  # distinct features on the path
    zero_fractions: np.ndarray  # z_j per feature
    splits: tuple[tuple[int, int, bool], ...]  # (node, feature, went_left) along the path


def hist_gradient_boosting_shap(classifier: Any, inputs: np.ndarray) -> tuple[np.ndarray, float]:
    """(SHAP values per input column, base value) of a fitted binary HistGradientBoosting
    classifier, in its raw log-odds (``decision_function``)."""
    known, feature_map = classifier._bin_mapper.make_known_categories_bitsets()
    order = _internal_order(classifier, inputs.shape[1])
    inputs = classifier._preprocess_X(inputs, reset=False)  # categoricals first, coded
    values = np.zeros(inputs.shape, dtype=float)
    base = float(np.ravel(classifier._baseline_prediction)[0])
    for iteration in classifier._predictors:
        predictor = iteration[0]
        goes_left = _directions(predictor, inputs, known, feature_map)
        for leaf in _leaves(predictor.nodes):
            base += leaf.value * float(np.prod(leaf.zero_fractions))
            _add_leaf(values, leaf, goes_left)
    restored = np.empty_like(values)
    restored[:, order] = values
    return restored, base


def _internal_order(classifier: Any, n_columns: int) -> np.ndarray:
    """Input column behind each column the trees split on: with categorical features the
    estimator's own column transformer puts them first."""
    preprocessor = getattr(classifier, "_preprocessor", None)
    if preprocessor is None:
        return np.arange(n_columns)
    order: list[int] = []
    for _, _, selected in preprocessor.transformers_:
        mask = np.asarray(selected)
        order += list(np.flatnonzero(mask) if mask.dtype == bool else mask)
    return np.asarray(order)


def _directions(
    predictor: Any, inputs: np.ndarray, known: np.ndarray, feature_map: np.ndarray
) -> dict[int, np.ndarray]:
    """Per split node: whether each row goes left, as scikit-learn's predictor decides."""
    directions: dict[int, np.ndarray] = {}
    for index, node in enumerate(predictor.nodes):
        if node["is_leaf"]:
            continue
        column = inputs[:, node["feature_idx"]]
        missing = np.isnan(column)
        if node["is_categorical"]:
            codes = np.where(missing | (column < 0), -1, column).astype(np.int64)
            known_bits = known[feature_map[node["feature_idx"]]]
            missing |= ~_in_bitset(known_bits, codes)  # unseen category: treated as missing
            left = _in_bitset(predictor.raw_left_cat_bitsets[node["bitset_idx"]], codes)
        else:
            left = column <= node["num_threshold"]
        directions[index] = np.where(missing, bool(node["missing_go_to_left"]), left)
    return directions


def _in_bitset(bitset: np.ndarray, codes: np.ndarray) -> np.ndarray:
    valid = (codes >= 0) & (codes < 32 * len(bitset))
    safe = np.where(valid, codes, 0)
    words = bitset[safe // 32].astype(np.int64)
    return valid & (((words >> (safe % 32)) & 1) == 1)


def _leaves(nodes: np.ndarray) -> list[_Leaf]:
    leaves: list[_Leaf] = []
    stack: list[tuple[int, tuple[tuple[int, int, bool], ...], dict[int, float]]] = [(0, (), {})]
    while stack:
        index, path, fractions = stack.pop()
        node = nodes[index]
        if node["is_leaf"]:
            features = tuple(fractions)
            leaves.append(
                _Leaf(
                    value=float(node["value"]),
                    features=features,
                    zero_fractions=np.array([fractions[f] for f in features]),
                    splits=path,
                )
            )
            continue
        feature = int(node["feature_idx"])
        for child, went_left in ((int(node["left"]), True), (int(node["right"]), False)):
            share = float(nodes[child]["count"]) / float(node["count"])
            updated = dict(fractions)
            updated[feature] = updated.get(feature, 1.0) * share
            stack.append((child, (*path, (index, feature, went_left)), updated))
    return leaves


def _add_leaf(values: np.ndarray, leaf: _Leaf, goes_left: dict[int, np.ndarray]) -> None:
    depth = len(leaf.features)
    if depth == 0:
        return
    position = {feature: k for k, feature in enumerate(leaf.features)}
    follows = np.ones((values.shape[0], depth), dtype=bool)  # o_j per row
    for node, feature, went_left in leaf.splits:
        direction = goes_left[node] if went_left else ~goes_left[node]
        follows[:, position[feature]] &= direction
    patterns = follows @ (1 << np.arange(depth))
    present, inverse = np.unique(patterns, return_inverse=True)
    ones = ((present[:, None] >> np.arange(depth)) & 1).astype(float)  # o per pattern
    per_pattern = leaf.value * _shapley_product_game(ones, leaf.zero_fractions)
    values[:, list(leaf.features)] += per_pattern[inverse]


def _shapley_product_game(ones: np.ndarray, zeros: np.ndarray) -> np.ndarray:
    """Shapley values of ``v(S) = prod_{j in S} o_j prod_{j not in S} z_j`` per pattern row."""
    patterns, depth = ones.shape
    weights = np.array(
        [factorial(s) * factorial(depth - s - 1) / factorial(depth) for s in range(depth)]
    )
    result = np.empty((patterns, depth))
    for i in range(depth):
        coefficients = np.zeros((patterns, depth))
        coefficients[:, 0] = 1.0
        size = 1
        for j in range(depth):
            if j == i:
                continue
            shifted = np.zeros_like(coefficients)
            shifted[:, 1 : size + 1] = coefficients[:, :size] * ones[:, [j]]
            coefficients = coefficients * zeros[j] + shifted
            size += 1
        result[:, i] = (ones[:, i] - zeros[i]) * (coefficients @ weights)
    return result
