"""Request bodies of /v1: what a batch, a customer id and a feature value may be."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.schemas import ByIdRequest, ScoreRequest


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValidationError, match="customers"):
        ScoreRequest.model_validate({"customers": []})
    with pytest.raises(ValidationError, match="customer_ids"):
        ByIdRequest.model_validate({"customer_ids": []})
    assert len(ScoreRequest.model_validate({"customers": [{"features": {}}]}).customers) == 1
    assert ByIdRequest.model_validate({"customer_ids": ["C1"]}).customer_ids == ["C1"]


def test_a_text_feature_value_may_hold_256_characters_and_no_more() -> None:
    ScoreRequest.model_validate({"customers": [{"features": {"static_country": "x" * 256}}]})
    with pytest.raises(ValidationError, match="at most 256 characters"):
        ScoreRequest.model_validate({"customers": [{"features": {"static_country": "x" * 257}}]})


def test_a_customer_id_is_any_text_up_to_256_characters_without_control_characters() -> None:
    ByIdRequest.model_validate({"customer_ids": ["é /x 1", "c" * 256]})
    for bad in ("c" * 257, "C\n1", ""):
        with pytest.raises(ValidationError, match=r"customer_ids\.0"):
            ByIdRequest.model_validate({"customer_ids": [bad]})


def test_explain_defaults_to_true_and_must_be_a_real_boolean() -> None:
    assert ScoreRequest.model_validate({"customers": [{"features": {}}]}).explain is True
    with pytest.raises(ValidationError, match="explain"):
        ScoreRequest.model_validate({"customers": [{"features": {}}], "explain": "yes"})
