"""Raw-feature scoring: the same model object, feature types, reason codes and offer policy as
the batch pipeline, applied to the values a caller sends.

* probability: ``models.training.predict_churn`` (score only) or the explanation's
  ``churn_probability`` (with reasons), both ``model.predict_proba`` on ``model_inputs`` rows;
* reasons: ``models.explain.explain_rows`` + ``models.reasons.reasons_for_rows`` with the
  explain stage's ``top_reasons`` and ``reason_min_log_odds``, encoded by ``reasons_json``;
* offer: ``offers.policy.OfferPolicy.recommend`` — the best offer without budget or control
  group (those are campaign decisions, served by id).

Request values become a DataFrame of the snapshot's columns: numbers as float64 (the models'
``model_inputs`` casts every numeric feature to float64 anyway), booleans as bool (object when a
value is null), strings as object; the replay test checks that a request row and the same
customer's snapshot row give bit-identical answers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from core.layout import MISSING_CATEGORY
from serving import metrics
from serving.errors import ApiError
from serving.fastpath import request_category
from serving.schemas import CustomerFeatures
from serving.state import LARGEST_NUMBER, Serving
from serving.store import risk_tier

FEATURES_SOURCE = "features"


def check_request(serving: Serving, customers: Sequence[CustomerFeatures]) -> None:
    """422 naming every bad feature (unknown, missing, wrong type) with its customer index."""
    if all(_valid(serving, customer.features) for customer in customers):
        return
    required = serving.required_features
    kinds = serving.feature_kinds
    ranges = {name: (low, high) for name, low, high in serving.numeric_ranges}
    details: list[dict[str, Any]] = []
    for index, customer in enumerate(customers):
        given = customer.features
        if len(given) != len(required) or any(name not in kinds for name in given):
            for name in given:
                if name not in kinds:
                    details.append(_problem(index, name, "unknown feature"))
            missing = [name for name in required if name not in given]
            if missing:
                shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
                details.append(
                    _problem(index, None, f"missing {len(missing)} feature(s) (send null): {shown}")
                )
        for name, value in given.items():
            kind = kinds.get(name)
            if kind is not None and not _fits(value, kind):
                if kind == "number":
                    message = _number_message(ranges[name])
                else:
                    message = f"expected {kind} or null"
                details.append(_problem(index, name, message))
            elif kind == "number" and value is not None and not _in_range(value, ranges[name]):
                details.append(_problem(index, name, _range_message(ranges[name])))
        if len(details) >= 50:
            break
    if details:
        first = details[0]
        raise ApiError(
            422,
            f"invalid request: {first['field']} (customer index {first['customer_index']}): "
            f"{first['message']}" + (f" (and {len(details) - 1} more)" if len(details) > 1 else ""),
            details,
        )


def request_frame(serving: Serving, rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Checked request values (``customer.features`` per customer) as rows with the snapshot's
    columns."""
    required, kinds = serving.required_features, serving.feature_kinds
    numeric = [name for name in required if kinds[name] == "number"]
    matrix = np.array([[row[name] for name in numeric] for row in rows], dtype="float64")
    blocks = [pd.DataFrame(matrix.reshape(len(rows), len(numeric)), columns=numeric)]
    for name in required:
        if kinds[name] != "number":
            values = [row[name] for row in rows]
            as_bool = kinds[name] == "bool" and all(value is not None for value in values)
            blocks.append(pd.Series(values, name=name, dtype=bool if as_bool else object))
    return pd.concat(blocks, axis=1)[list(required)]


def score_frame(
    serving: Serving, frame: pd.DataFrame, customer_ids: Sequence[str | None], explain: bool
) -> list[dict[str, Any]]:
    """One answer per row: probability and tier; with ``explain`` also reasons and best offer.

    The reference path (pandas, the batch pipeline's own functions); ``score_rows_explained``
    is the checked fast path for the same answers."""
    if not explain:
        probabilities = serving.model.probabilities(frame)
        return _score_only(serving, probabilities, customer_ids)
    from models.explain import explain_rows
    from models.reasons import reasons_for_rows, reasons_json

    explanation = explain_rows(serving.model.model, frame, n_jobs=1)
    probabilities = np.asarray(explanation.churn_probability, dtype=float)
    reasons = reasons_for_rows(
        explanation, top_k=serving.top_reasons, min_contribution=serving.reason_min_log_odds
    )
    offers = serving.policy.recommend(frame, probabilities)
    offer_answers = []
    for position in range(len(probabilities)):
        offer = offers.iloc[position]
        offer_answers.append(
            {
                "offer_id": offer["offer_id"] if isinstance(offer["offer_id"], str) else None,
                "expected_gain": _number(offer["expected_gain"]),
                "uplift": _number(offer["uplift"]),
                "value": _number(offer["value"]),
                "cost": _number(offer["cost"]),
                "group": None,
                "decision": str(offer["reason"]),
            }
        )
    # the batch file's own encoding of the reasons
    reason_answers = [json.loads(reasons_json(codes)) for codes in reasons]
    return explained_answers(serving, customer_ids, probabilities, reason_answers, offer_answers)


def explained_answers(
    serving: Serving,
    customer_ids: Sequence[str | None],
    probabilities: Any,
    reasons: Sequence[list[dict[str, Any]]],
    offers: Sequence[dict[str, Any]],
) -> list[dict[str, Any]]:
    return [
        _answer(customer_id, float(probability), row_reasons, offer, serving)
        for customer_id, probability, row_reasons, offer in zip(
            customer_ids, probabilities, reasons, offers, strict=True
        )
    ]


def score_rows_explained(
    serving: Serving, customers: Sequence[CustomerFeatures]
) -> list[dict[str, Any]]:
    """Probability, reasons and best offer through the checked pandas-free path
    (``serving.fast_explain`` must be set)."""
    from serving.state import fast_answers

    assert serving.fast_explain is not None
    return fast_answers(
        serving,
        serving.fast_explain,
        [customer.features for customer in customers],
        [customer.customer_id for customer in customers],
    )


def score_rows_fast(
    serving: Serving, customers: Sequence[CustomerFeatures]
) -> list[dict[str, Any]]:
    """Score only through the checked pandas-free path (``serving.fast`` must be set)."""
    assert serving.fast is not None
    probabilities = serving.fast.probabilities([customer.features for customer in customers])
    return _score_only(serving, probabilities, [c.customer_id for c in customers])


def _score_only(
    serving: Serving, probabilities: Any, customer_ids: Sequence[str | None]
) -> list[dict[str, Any]]:
    return [
        _answer(c, float(p), None, None, serving)
        for c, p in zip(customer_ids, probabilities, strict=True)
    ]


def _answer(
    customer_id: str | None,
    probability: float,
    reasons: list[dict] | None,
    offer: dict | None,
    serving: Serving,
) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "churn_probability": probability,
        "risk_tier": risk_tier(probability, serving.risk_tiers),
        "reasons": reasons,
        "offer": offer,
        "source": FEATURES_SOURCE,
        "warnings": [],
    }


def add_category_warnings(
    serving: Serving, answers: Sequence[dict[str, Any]], customers: Sequence[CustomerFeatures]
) -> None:
    """Fill each answer's ``warnings`` with the categorical values sent that the model never saw
    in training, and the text values of rule-only columns no snapshot row holds (and count them
    per feature in ``/metrics``, where a CRM's new spelling shows up as a rising series)."""
    known, rule_values = serving.known_categories, serving.rule_values
    if not known and not rule_values:
        return
    for answer, customer in zip(answers, customers, strict=True):
        warnings = unseen_category_warnings(known, customer.features, serving.bool_features)
        warnings += unseen_rule_value_warnings(rule_values, customer.features)
        if warnings:
            answer["warnings"] = warnings


def unseen_category_warnings(
    known: Mapping[str, frozenset[str]],
    features: Mapping[str, Any],
    booleans: Collection[str] = (),
) -> list[str]:
    """One line per categorical value in ``features`` outside ``known`` (null counts as the
    value ``missing``, which is what the encoders see); ``booleans``: the columns sent as JSON
    booleans, whose known values are listed as ``true``/``false``."""
    found = []
    for name, values in known.items():
        if name not in features or request_category(features[name]) in values:
            continue
        metrics.count_unseen_category(name)
        found.append(
            f"{name}: {json.dumps(features[name])} was not seen in training; scored as an "
            f"unknown category (known: {_listing(values, _known(name in booleans))})"
        )
    return found


def unseen_rule_value_warnings(
    seen: Mapping[str, frozenset[str]], features: Mapping[str, Any]
) -> list[str]:
    """One line per text value, of a column only the offer rules read, that no snapshot row
    holds: a country rule compares it as sent, so ``"fr"`` for ``"FR"`` fails it quietly. Null
    is no warning: an unknown country fails the rule by design."""
    found = []
    for name, values in seen.items():
        value = features.get(name)
        if value is None or str(value) in values:
            continue
        metrics.count_unseen_category(name)
        found.append(
            f"{name}: {json.dumps(value)} is not a value of the scoring snapshot; the offer rules "
            f"compare it as sent (snapshot values: {_listing(values, json.dumps)})"
        )
    return found


_LISTED = 12


def _listing(values: frozenset[str], shown_as: Callable[[str], str]) -> str:
    """The first :data:`_LISTED` of ``values`` in order, and how many more."""
    listed = sorted(values)
    more = f" and {len(listed) - _LISTED} more" if len(listed) > _LISTED else ""
    return ", ".join(shown_as(value) for value in listed[:_LISTED]) + more


def _known(boolean: bool) -> Callable[[str], str]:
    """How to show a category the encoder learnt as a CRM writes it in JSON: ``missing`` is
    null, and a boolean column's ``True``/``False`` (the encoder's text) are ``true``/``false``,
    the only values the request check lets through for it."""

    def shown(category: str) -> str:
        if category == MISSING_CATEGORY:
            return "null"
        if boolean and category in ("True", "False"):
            return category.lower()
        return json.dumps(category)

    return shown


def _number_message(bounds: tuple[float, float]) -> str:
    """What a number feature accepts: its unit's range where it has one (a count is at least
    0), else any number the model's float32 inputs can hold."""
    if bounds[0] > -LARGEST_NUMBER:
        return _range_message(bounds)
    return f"expected a number within +-{LARGEST_NUMBER:.4g} or null"


def _valid(serving: Serving, given: dict[str, Any]) -> bool:
    """Whether one customer's values pass every check below, in one pass: exactly the required
    names, numbers ``int``/``float`` (never ``bool``) within +-:data:`LARGEST_NUMBER`, booleans
    ``bool``, strings ``str``, any of them null. JSON only produces those exact types, so
    ``type(...) is`` suffices; the detailed loop then only runs for a request it will reject."""
    if given.keys() != serving.required_set:
        return False
    for name, low, high in serving.numeric_ranges:
        value = given[name]
        kind = type(value)
        if kind is float or kind is int:
            if not low <= value <= high:  # NaN fails both comparisons
                return False
        elif value is not None:
            return False
    for name in serving.bool_features:
        value = given[name]
        if value is not None and type(value) is not bool:
            return False
    for name in serving.string_features:
        value = given[name]
        if value is not None and type(value) is not str:
            return False
    return True


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _range_message(bounds: tuple[float, float]) -> str:
    low, high = bounds
    if high >= LARGEST_NUMBER:
        return f"expected a number of at least {low:g} (its unit's range) or null"
    return f"expected a number from {low:g} to {high:g} (its unit's range) or null"


def _fits(value: Any, kind: str) -> bool:
    if value is None:
        return True
    if kind == "number":
        number = isinstance(value, int | float) and not isinstance(value, bool)
        return number and -LARGEST_NUMBER <= value <= LARGEST_NUMBER
    if kind == "bool":
        return isinstance(value, bool)
    return isinstance(value, str)


def _problem(index: int, name: str | None, message: str) -> dict[str, Any]:
    field = f"customers[{index}].features" + (f".{name}" if name is not None else "")
    return {"field": field, "customer_index": index, "message": message}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
