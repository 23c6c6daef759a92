"""A rule column left out of the models (``train.exclude_features``) is still a request input.

The offer rules read the contact history (``offers_*``, unsubscribes), the tenure and, with a
country rule, ``static_country``, whether or not the churn model learnt from them. A team may well
exclude ``offers_*`` so the model does not learn past targeting; before, the service then did not
ask for those columns, failed to price its own warm-up rows and never became ready.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.config import Config
from offers.rules import COUNTRY, DAYS_SINCE_OFFER, OFFERS_365D
from serving.fastpath import snapshot_rows
from tests.serving import world as tiny
from tests.serving.conftest import API_KEY, auth, wait_ready
from tests.serving.test_app import feature_payload, required_features, snapshot
from tests.serving.test_fastexplain import fast, fast_path_serving, reference

pytestmark = pytest.mark.slow  # builds its own tiny world through the real stages (~40 s)

EXCLUDED = ["offers_*", COUNTRY]
COUNTRIES = ["DE", "FR"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Config]:
    """The tiny world with the rule columns excluded from the models and every offer for DE and
    FR only (the tiny world's policy finds no offer worth its cost, so the rules show in the
    decision: ``no_eligible_offer`` against ``no_positive_gain``)."""

    def params(root: Path) -> dict[str, Any]:
        values = standard(root)
        values["train"]["exclude_features"] = EXCLUDED
        for offer in values["offers"]["catalog"]:
            offer["countries"] = COUNTRIES
        return values

    standard = tiny.world_params
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setattr(tiny, "world_params", params)
        yield tiny.build_world(tmp_path_factory.mktemp("rule_world"))


@pytest.fixture(scope="module")
def client(world: Config) -> Iterator[TestClient]:
    from serving.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHURN_API_KEYS", API_KEY)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        with TestClient(create_app(world), raise_server_exceptions=False) as test_client:
            wait_ready(test_client)
            yield test_client


def test_the_service_asks_for_the_rule_columns_the_model_does_not_read(
    client: TestClient,
) -> None:
    served = client.app.state.holder.current  # type: ignore[attr-defined]
    model_inputs = set(served.model.columns.all)
    asked = set(required_features(client))

    assert not model_inputs & {COUNTRY, DAYS_SINCE_OFFER, OFFERS_365D}
    assert {COUNTRY, DAYS_SINCE_OFFER, OFFERS_365D} <= asked
    assert served.feature_kinds[COUNTRY] == "string"
    assert served.feature_kinds[DAYS_SINCE_OFFER] == "number"


def test_raw_requests_get_the_offers_the_batch_policy_recommends_for_the_same_rows(
    client: TestClient, world: Config
) -> None:
    served = client.app.state.holder.current  # type: ignore[attr-defined]
    rows = snapshot(world).head(60)
    expected = batch_recommendation(served, rows)

    scores = score(client, feature_payload(rows, required_features(client)))

    assert [s["offer"]["offer_id"] for s in scores] == expected["offer_id"].tolist()
    assert [s["offer"]["decision"] for s in scores] == expected["reason"].tolist()


def test_the_rules_read_the_country_and_contact_history_sent(
    client: TestClient, world: Config
) -> None:
    served = client.app.state.holder.current  # type: ignore[attr-defined]
    rows = snapshot(world).head(60)
    decided = batch_recommendation(served, rows)["reason"]
    eligible = (decided == "no_positive_gain") & rows[COUNTRY].isin(COUNTRIES)
    [customer] = feature_payload(rows[eligible.to_numpy()].head(1), required_features(client))
    sent = {
        "as_exported": customer["features"],
        "cooling": {**customer["features"], DAYS_SINCE_OFFER: 1.0, OFFERS_365D: 1.0},
        "abroad": {**customer["features"], COUNTRY: "IT"},
        "lowercase": {**customer["features"], COUNTRY: customer["features"][COUNTRY].lower()},
    }

    answers = score(client, [{"customer_id": k, "features": v} for k, v in sent.items()])
    decisions = {answer["customer_id"]: answer["offer"]["decision"] for answer in answers}

    assert decisions == {
        "as_exported": "no_positive_gain",
        "cooling": "contact_rule:cooldown",
        "abroad": "no_eligible_offer",
        "lowercase": "no_eligible_offer",  # "fr" is not "FR": compared as sent
    }
    abroad, lowercase = answers[2], answers[3]
    assert abroad["warnings"] == []  # a country of the export
    [warning] = lowercase["warnings"]
    lowered = json.dumps(sent["lowercase"][COUNTRY])
    assert warning.startswith(f"{COUNTRY}: {lowered} is not a value of the scoring snapshot")
    assert '"FR"' in warning and '"IT"' in warning


def test_the_fast_path_reads_the_rule_columns_as_the_reference_path_does(
    client: TestClient, world: Config
) -> None:
    """The tiny world's own policy keeps the reference path (gradient-boosting value); a policy
    of the fast path's shape (reach_hazard + BG/NBD) over the same served model must read the
    rule-only columns the request carries exactly as the reference path does."""
    served = client.app.state.holder.current  # type: ignore[attr-defined]
    frame = snapshot(world)
    serving = fast_path_serving(served, frame, world, "reach_hazard")
    assert serving.fast_explain is not None
    rows = snapshot_rows(frame, serving.required_features)[:200]
    assert {COUNTRY, DAYS_SINCE_OFFER, OFFERS_365D} <= set(rows[0])
    edits: list[dict[str, Any]] = [
        {COUNTRY: "IT"},
        {COUNTRY: "fr"},
        {COUNTRY: None},
        {COUNTRY: "DE"},
        {DAYS_SINCE_OFFER: 1.0, OFFERS_365D: 1.0},
        {DAYS_SINCE_OFFER: None, OFFERS_365D: 0.0},
    ]
    edited = [dict(row, **edits[i % len(edits)]) for i, row in enumerate(rows[:120])]

    for chunk in (rows, edited):
        assert fast(serving, chunk) == reference(serving, chunk)
    decisions = [answer["offer"]["decision"] for answer in fast(serving, edited)]
    abroad = [d for i, d in enumerate(decisions) if i % len(edits) in (0, 1, 2)]
    # a row's own contact history may stop it first; otherwise no offer is open to it
    assert all(d == "no_eligible_offer" or d.startswith("contact_rule:") for d in abroad)
    assert "no_eligible_offer" in abroad
    assert "contact_rule:cooldown" in decisions[4 :: len(edits)]


def score(client: TestClient, customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = client.post("/v1/score", json={"customers": customers}, headers=auth())
    assert response.status_code == 200, response.text
    return response.json()["scores"]


def batch_recommendation(served: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """What the offers stage's policy recommends for whole snapshot rows (every column)."""
    return served.policy.recommend(rows, served.model.probabilities(rows))
