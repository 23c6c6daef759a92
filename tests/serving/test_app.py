"""The app in-process (Starlette's httpx-based TestClient, lifespan running) on a tiny world."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from core.config import Config
from models import tracking
from tests.serving.conftest import (
    ADMIN_KEY,
    API_KEY,
    OTHER_KEY,
    auth,
    champion_version,
    register_copy,
    register_incompatible,
    set_champion,
    wait_ready,
)

pytestmark = pytest.mark.slow  # needs the tiny world built by the real stages (~40 s, once)

V1_ROUTES = [
    ("post", "/v1/score"),
    ("post", "/v1/score/by-id"),
    ("get", "/v1/customers/C0000001/score"),
    ("get", "/v1/model"),
    ("post", "/v1/admin/reload"),
]


def snapshot(config: Config) -> pd.DataFrame:
    return pd.read_parquet(config.paths.features_dir / "snapshot.parquet")


def feature_payload(frame: pd.DataFrame, names: list[str]) -> list[dict[str, Any]]:
    """Snapshot rows as the CRM would send them: JSON values, null for missing."""
    records = json.loads(frame[["customer_id", *names]].to_json(orient="records"))
    return [
        {"customer_id": r.pop("customer_id"), "features": {n: r[n] for n in names}} for r in records
    ]


def required_features(client: TestClient) -> list[str]:
    return client.get("/v1/model", headers=auth()).json()["features"]


def test_a_batch_computes_in_turns_so_a_request_behind_it_waits_for_one_turn(
    client: TestClient, world: Config
) -> None:
    """One scoring thread per worker: a 1,000-row explained batch held it for 2.5 s, and a one-row
    request behind two of them waited 4.4-5.8 s (benchmarked in-process). Each batch now takes
    the thread COMPUTE_TURN_ROWS rows at a time, so others' requests get in between."""
    from serving.app import COMPUTE_TURN_ROWS

    rows = COMPUTE_TURN_ROWS * 2 + 7
    customers = feature_payload(snapshot(world).head(rows), required_features(client))
    compute = client.app.state.compute  # type: ignore[attr-defined]
    turns: list[int] = []
    submit = compute.submit

    def counted(function: Any, serving: Any, batch: Any, *args: Any) -> Any:
        turns.append(len(batch) if isinstance(batch, list) else len(batch.index))
        return submit(function, serving, batch, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compute, "submit", counted)
        answer = client.post("/v1/score", json={"customers": customers}, headers=auth())

    assert answer.status_code == 200
    assert [s["customer_id"] for s in answer.json()["scores"]] == [
        c["customer_id"] for c in customers
    ]
    assert turns == [COMPUTE_TURN_ROWS, COMPUTE_TURN_ROWS, 7]


# --- probes, model card ------------------------------------------------------------------------


def test_ready_is_false_until_the_model_is_loaded(app: Any) -> None:
    client = TestClient(app)  # no lifespan: nothing loads
    assert client.get("/health").json() == {"status": "alive"}
    assert client.head("/health").status_code == 200  # probes that use HEAD (it was 405)
    response = client.get("/ready")
    assert (response.status_code, response.json()["ready"]) == (503, False)
    assert client.head("/ready").status_code == 503
    assert response.headers["retry-after"] == "1"  # one reload poll (0.5 s in the tiny world)
    scored = client.post("/v1/score/by-id", json={"customer_ids": ["x"]}, headers=auth())
    assert scored.status_code == 503 and scored.headers["retry-after"] == "1"

    app.state.holder.refresh()

    assert client.get("/ready").json() == {"ready": True, "version": "1", "detail": None}


def test_model_card_names_version_alias_metrics_and_inputs(
    client: TestClient, world: Config
) -> None:
    card = client.get("/v1/model", headers=auth()).json()
    manifest = json.loads((world.paths.features_dir / "manifest.json").read_text())

    assert (card["name"], card["version"], card["alias"]) == ("churn-classifier", "1", "champion")
    assert card["candidate"] == "xgboost"
    assert 0.5 < card["test_metrics"]["roc_auc"] <= 1.0
    assert set(card["features"]) >= set(manifest["features"]) - {"churned"}
    assert card["feature_definitions_hash"] == manifest["feature_definitions_hash"]
    assert card["snapshot_date"] == manifest["snapshot_date"]
    assert card["offers"] == [offer.id for offer in world.offers.catalog]


# --- by id -------------------------------------------------------------------------------------


def test_by_id_serves_the_batch_decision(client: TestClient, world: Config) -> None:
    targets = pd.read_parquet(world.paths.offers_dir / "targets.parquet").set_index("customer_id")
    reasons = pd.read_parquet(world.paths.explain_dir / "snapshot_reasons.parquet")
    reasons = reasons.set_index("customer_id")
    # one customer of each campaign group the world has (treatment / control / none), and more
    ids = [targets.index[targets["group"] == group][0] for group in targets["group"].unique()]
    ids += [c for c in targets.index[:5] if c not in ids]

    body = client.post("/v1/score/by-id", json={"customer_ids": ids}, headers=auth()).json()

    assert body["model"] == {"name": "churn-classifier", "version": "1", "alias": "champion"}
    assert body["decided_by_model_version"] == "1"
    assert [s["customer_id"] for s in body["scores"]] == ids
    for score in body["scores"]:
        expected = targets.loc[score["customer_id"]]
        assert score["churn_probability"] == expected["churn_probability"]
        assert score["offer"]["group"] == expected["group"]
        assert score["offer"]["decision"] == expected["decision"]
        assert (score["offer"]["decision"] == "campaign") == (expected["group"] != "none")
        assert score["offer"]["offer_id"] == expected["offer_id"]
        assert score["offer"]["expected_gain"] == expected["expected_gain"]
        assert score["reasons"] == json.loads(reasons.loc[score["customer_id"], "reasons"])
        assert score["source"] == "snapshot"
    assert {s["offer"]["group"] for s in body["scores"]} == set(targets["group"])


def test_unknown_ids_get_404_listing_them(client: TestClient, world: Config) -> None:
    known = snapshot(world)["customer_id"].iloc[0]

    response = client.post(
        "/v1/score/by-id", json={"customer_ids": [known, "NOPE-1", "NOPE-2"]}, headers=auth()
    )

    assert response.status_code == 404
    assert "NOPE-1, NOPE-2" in response.json()["error"]["message"]
    assert "2 customer id(s)" in response.json()["error"]["message"]


def test_a_404_names_each_unknown_id_at_its_position_and_counts_it_once(
    client: TestClient, world: Config
) -> None:
    known = snapshot(world)["customer_id"].iloc[0]

    response = client.post(
        "/v1/score/by-id", json={"customer_ids": [known, "NOPE", "NOPE"]}, headers=auth()
    )

    error = response.json()["error"]
    assert "1 customer id(s) not in the scoring snapshot" in error["message"]
    assert error["message"].endswith(": NOPE")
    assert [(d["field"], d["customer_index"]) for d in error["details"]] == [
        ("customer_ids[1]", 1),
        ("customer_ids[2]", 2),
    ]
    single = client.get("/v1/customers/NOPE/score", headers=auth()).json()["error"]
    assert [(d["field"], d["customer_index"]) for d in single["details"]] == [("customer_id", None)]


@pytest.mark.parametrize("customer_id", ["C 0040", "Cé0040", "c/0040#1", "x" * 256])
def test_any_id_the_data_contract_allows_is_looked_up(client: TestClient, customer_id: str) -> None:
    """Ids are text read as is (docs/data-contract.md): an unknown one is a 404, never a 422."""
    response = client.post("/v1/score/by-id", json={"customer_ids": [customer_id]}, headers=auth())

    assert response.status_code == 404
    assert customer_id in response.json()["error"]["message"]


@pytest.mark.parametrize("customer_id", ["", "C\n0040", "C\x000040", "x" * 257])
def test_an_id_no_crm_writes_is_422(client: TestClient, customer_id: str) -> None:
    response = client.post("/v1/score/by-id", json={"customer_ids": [customer_id]}, headers=auth())

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "customer_ids[0]"


def test_the_one_customer_route_takes_an_id_with_a_space(client: TestClient) -> None:
    response = client.get("/v1/customers/C%200040/score", headers=auth())

    assert response.status_code == 404
    assert "C 0040" in response.json()["error"]["message"]


def test_get_one_customer_equals_by_id(client: TestClient, world: Config) -> None:
    customer = snapshot(world)["customer_id"].iloc[3]

    single = client.get(f"/v1/customers/{customer}/score", headers=auth()).json()
    batch = client.post("/v1/score/by-id", json={"customer_ids": [customer]}, headers=auth())

    assert single == batch.json()


# --- raw features ------------------------------------------------------------------------------


def test_raw_features_score_with_reasons_and_offer_and_score_only(
    client: TestClient, world: Config
) -> None:
    rows = snapshot(world).head(5)
    customers = feature_payload(rows, required_features(client))

    full = client.post("/v1/score", json={"customers": customers}, headers=auth()).json()
    only = client.post(
        "/v1/score", json={"customers": customers, "explain": False}, headers=auth()
    ).json()

    assert [s["customer_id"] for s in full["scores"]] == rows["customer_id"].tolist()
    assert [s["churn_probability"] for s in only["scores"]] == [
        s["churn_probability"] for s in full["scores"]
    ]
    assert all(s["reasons"] is None and s["offer"] is None for s in only["scores"])
    assert all(
        isinstance(s["reasons"], list) and s["offer"]["group"] is None for s in full["scores"]
    )
    assert {s["source"] for s in full["scores"]} == {"features"}
    assert client.app.state.holder.current.fast is not None  # type: ignore[attr-defined]
    assert full["decided_by_model_version"] == full["model"]["version"] == "1"


def test_a_category_the_model_never_saw_is_scored_with_a_warning_naming_it(
    client: TestClient, world: Config
) -> None:
    rows = snapshot(world).head(3)
    customers = feature_payload(rows, required_features(client))
    sent = customers[1]["features"]["static_country"]
    customers[1]["features"]["static_country"] = sent.lower()  # "fr" for "FR"
    counted = unseen_count(client, "static_country")

    answers = {
        explain: client.post(
            "/v1/score", json={"customers": customers, "explain": explain}, headers=auth()
        ).json()["scores"]
        for explain in (True, False)
    }
    by_id = client.post(
        "/v1/score/by-id", json={"customer_ids": rows["customer_id"].tolist()}, headers=auth()
    ).json()["scores"]

    for scores in answers.values():
        assert [len(score["warnings"]) for score in scores] == [0, 1, 0]
        assert scores[1]["warnings"][0].startswith(
            f'static_country: "{sent.lower()}" was not seen in training'
        )
        assert f'"{sent}"' in scores[1]["warnings"][0]  # the known spelling is listed
    assert [score["warnings"] for score in by_id] == [[], [], []]
    assert unseen_count(client, "static_country") == counted + 2  # once per scoring call


def test_a_boolean_columns_warning_lists_the_json_values_it_accepts(
    client: TestClient, world: Config
) -> None:
    customers = feature_payload(snapshot(world).head(1), required_features(client))
    assert isinstance(customers[0]["features"]["static_loyalty_member"], bool)
    customers[0]["features"]["static_loyalty_member"] = None  # training saw no null

    [score] = client.post("/v1/score", json={"customers": customers}, headers=auth()).json()[
        "scores"
    ]

    [warning] = score["warnings"]
    assert warning.startswith("static_loyalty_member: null was not seen in training")
    assert warning.endswith("(known: false, true)")


def unseen_count(client: TestClient, feature: str) -> float:
    """The service's counter of unseen values of ``feature`` (0 before the first)."""
    series = f'churn_unseen_category_values_total{{feature="{feature}"}} '
    lines = [line for line in client.get("/metrics").text.splitlines() if line.startswith(series)]
    return float(lines[0].removeprefix(series)) if lines else 0.0


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_everything_from_the_service_itself(
    client: TestClient, page: str
) -> None:
    """A CRM's network often reaches no CDN: the docs pages must work from the service alone."""
    html = client.get(page).text
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", html)
    assets += re.findall(r"""url: ['"]([^'"]+)['"]""", html)  # the schema Swagger UI reads

    assert assets and not [url for url in assets if "//" in url], assets  # no other host
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        assert len(response.content) > 1000 or url.endswith(".png"), url
    assert any(url.endswith(".js") for url in assets)


def test_the_docs_example_request_scores_with_the_served_models_features(
    client: TestClient,
) -> None:
    """/docs' "Try it out" sends the schema's example: it must be a request that scores."""
    schema = client.get("/openapi.json").json()
    features = schema["components"]["schemas"]["CustomerFeatures"]["properties"]["features"]
    [example] = features["examples"]

    assert sorted(example) == sorted(required_features(client))
    # served without a key: typical values, not the first snapshot customer's record
    first = client.app.state.holder.current.store.check_rows.iloc[0]  # type: ignore[attr-defined]
    differ = [
        name
        for name, value in example.items()
        if value is not None and not pd.isna(first[name]) and value != first[name]
    ]
    assert len(differ) > len(example) / 4
    body = {"customers": [{"customer_id": "C0000006", "features": example}]}
    answer = client.post("/v1/score", json=body, headers=auth())
    assert answer.status_code == 200, answer.text
    assert answer.json()["scores"][0]["warnings"] == []


def test_the_schema_lists_the_statuses_the_guard_answers(client: TestClient) -> None:
    """The key and body guard answers before FastAPI: its 400 and 415 are documented too."""
    paths = client.get("/openapi.json").json()["paths"]

    for path in ("/v1/score", "/v1/score/by-id"):
        assert {"400", "401", "403", "413", "415", "422"} <= set(paths[path]["post"]["responses"])
    assert {"400", "401", "403"} <= set(paths["/v1/model"]["get"]["responses"])


def test_every_operation_in_the_schema_has_its_own_id(client: TestClient) -> None:
    """OpenAPI requires unique operationIds; client generators name methods by them."""
    schema = client.get("/openapi.json").json()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]

    assert len(ids) == len(set(ids)), sorted(ids)
    assert client.head("/health").status_code == 200  # HEAD still answers, outside the schema
    assert client.head("/ready").status_code == 200


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), V1_ROUTES)
def test_every_v1_route_needs_a_key(client: TestClient, method: str, path: str) -> None:
    missing = client.request(method, path, json={})
    wrong = client.request(method, path, json={}, headers=auth("not-a-key"))

    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith("missing API key")
    assert wrong.status_code == 403


def test_probes_are_open_and_both_configured_keys_work(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/v1/model", headers=auth(API_KEY)).status_code == 200
    assert client.get("/v1/model", headers=auth(OTHER_KEY)).status_code == 200


def test_admin_route_needs_the_admin_key_not_an_api_key(client: TestClient) -> None:
    assert client.post("/v1/admin/reload", headers=auth(API_KEY)).status_code == 403
    assert client.post("/v1/admin/reload", headers=auth(ADMIN_KEY)).status_code == 200
    assert client.get("/v1/model", headers=auth(ADMIN_KEY)).status_code == 403


def test_keys_never_reach_logs_or_responses(
    client: TestClient, capfd: pytest.CaptureFixture[str], info_logs: None
) -> None:
    bodies = [
        client.post("/v1/score/by-id", json={"customer_ids": ["A"]}, headers=auth(k)).text
        for k in (API_KEY, "wrong-key-123", ADMIN_KEY)
    ]
    bodies.append(client.get("/metrics").text)
    out, err = capfd.readouterr()

    for key in (API_KEY, OTHER_KEY, ADMIN_KEY, "wrong-key-123"):
        assert key not in out + err
        assert all(key not in body for body in bodies)


# --- limits and validation ---------------------------------------------------------------------


def test_body_over_the_limit_is_413_with_the_limit(client: TestClient, world: Config) -> None:
    limit = world.serve.max_request_bytes
    response = client.post(
        "/v1/score/by-id",
        content=b'{"customer_ids": ["' + b"A" * limit + b'"]}',
        headers={**auth(), "content-type": "application/json"},
    )

    assert response.status_code == 413
    assert str(limit) in response.json()["error"]["message"]


@pytest.mark.parametrize("streamed", [False, True])
def test_a_body_of_exactly_the_limit_is_read(
    client: TestClient, world: Config, streamed: bool
) -> None:
    limit = world.serve.max_request_bytes
    head, tail = b'{"customer_ids": ["', b'"]}'
    body = head + b"A" * (limit - len(head) - len(tail)) + tail
    assert len(body) == limit

    def chunks() -> Any:  # no Content-Length
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = client.post(
        "/v1/score/by-id",
        content=chunks() if streamed else body,
        headers={**auth(), "content-type": "application/json"},
    )

    # read and parsed (not 413): the one id is then too long for a customer id
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "customer_ids[0]"


def test_streamed_body_over_the_limit_is_413(client: TestClient, world: Config) -> None:
    limit = world.serve.max_request_bytes

    def chunks() -> Any:  # no Content-Length: the guard counts bytes as they arrive
        yield b'{"customer_ids": ["'
        for _ in range(limit // 65536 + 2):
            yield b"A" * 65536
        yield b'"]}'

    response = client.post(
        "/v1/score/by-id", content=chunks(), headers={**auth(), "content-type": "application/json"}
    )

    assert response.status_code == 413
    assert str(limit) in response.json()["error"]["message"]


def test_batch_over_the_limit_is_413_with_the_limit(client: TestClient, world: Config) -> None:
    limit = world.serve.max_batch_size
    ids = [f"C{i:07d}" for i in range(limit + 1)]

    response = client.post("/v1/score/by-id", json={"customer_ids": ids}, headers=auth())

    assert response.status_code == 413
    assert f"batch of {limit + 1} customers exceeds the limit of {limit}" in response.text


@pytest.mark.parametrize("field", ["customer_ids", "customers"])
def test_batch_over_the_limit_is_413_even_when_its_entries_are_malformed(
    client: TestClient, world: Config, field: str
) -> None:
    """The limit is what the caller must fix first (it was a 422 about the entries)."""
    limit = world.serve.max_batch_size
    entry: object = "bad\nid" if field == "customer_ids" else {"customer_id": "C1", "features": 7}
    path = "/v1/score/by-id" if field == "customer_ids" else "/v1/score"

    response = client.post(path, json={field: [entry] * (limit + 1)}, headers=auth())

    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == (
        f"batch of {limit + 1} customers exceeds the limit of {limit}"
    )
    within = client.post(path, json={field: [entry] * limit}, headers=auth())
    assert within.status_code == 422  # at the limit, the entries are what is wrong
    other_route = "/v1/score" if field == "customer_ids" else "/v1/score/by-id"
    misplaced = client.post(other_route, json={field: [entry] * (limit + 1)}, headers=auth())
    assert misplaced.status_code == 422  # the field this route does not take is what is wrong


def test_the_batch_limit_is_part_of_the_request_schema(client: TestClient, world: Config) -> None:
    """The size was checked after every entry validated: 235,000 entries held the worker's event
    loop (probes too) for 2 s before the 413. In the schema, validation stops at the limit."""
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    for name, field in (("ScoreRequest", "customers"), ("ByIdRequest", "customer_ids")):
        assert schemas[name]["properties"][field]["maxItems"] == world.serve.max_batch_size


def test_get_routes_answer_head_with_the_same_status(client: TestClient, world: Config) -> None:
    """Uptime monitors probe with HEAD; it was 405 on every GET route but /health and /ready."""
    known = snapshot(world)["customer_id"].iloc[0]
    client.get(f"/v1/customers/{known}/score", headers=auth())  # the histogram exists
    scored = snapshot_scores_observed(client)

    for path, status in [
        ("/v1/model", 200),
        (f"/v1/customers/{known}/score", 200),
        ("/v1/customers/NOPE/score", 404),
        ("/metrics", 200),
    ]:
        assert client.head(path, headers=auth()).status_code == status, path
    assert client.head("/v1/model").status_code == 401
    assert snapshot_scores_observed(client) == scored  # a probe is no score served


def snapshot_scores_observed(client: TestClient) -> float:
    """The count of the snapshot score histogram in /metrics."""
    line = next(
        line
        for line in client.get("/metrics").text.splitlines()
        if line.startswith('churn_score_probability_count{source="snapshot"}')
    )
    return float(line.split()[-1])


def test_422_names_the_field_and_the_customer_index(client: TestClient, world: Config) -> None:
    customers = feature_payload(snapshot(world).head(3), required_features(client))
    customers[2]["features"]["rfm_orders_30d"] = "many"
    customers[1]["features"]["rfm_orders_31d"] = 1.0
    del customers[1]["features"]["static_country"]

    error = client.post("/v1/score", json={"customers": customers}, headers=auth()).json()["error"]

    assert error["status"] == 422
    details = {(d["field"], d["customer_index"]): d["message"] for d in error["details"]}
    assert details[("customers[1].features.rfm_orders_31d", 1)] == "unknown feature"
    assert "static_country" in details[("customers[1].features", 1)]
    assert details[("customers[2].features.rfm_orders_30d", 2)] == (
        "expected a number of at least 0 (its unit's range) or null"
    )
    assert error["message"].startswith("invalid request: customers[1].features")


@pytest.mark.parametrize("explain", [True, False])
def test_numbers_beyond_float32_are_422_not_a_scoring_crash(
    client: TestClient, world: Config, explain: bool
) -> None:
    customers = feature_payload(snapshot(world).head(2), required_features(client))
    customers[0]["features"]["rfm_days_since_last_order"] = 1e39  # inf once XGBoost sees it
    customers[1]["features"]["rfm_orders_30d"] = 10**400  # beyond any float

    response = client.post(
        "/v1/score", json={"customers": customers, "explain": explain}, headers=auth()
    )

    assert response.status_code == 422
    fields = [detail["field"] for detail in response.json()["error"]["details"]]
    assert fields == [
        "customers[0].features.rfm_days_since_last_order",
        "customers[1].features.rfm_orders_30d",
    ]


def test_schema_errors_are_422_with_field_paths(client: TestClient) -> None:
    shape = client.post("/v1/score", json={"customers": [{"features": []}]}, headers=auth())
    malformed = client.post(
        "/v1/score",
        content=b'{"customers": [',
        headers={**auth(), "content-type": "application/json"},
    )
    extra = client.post("/v1/score/by-id", json={"customer_ids": ["A"], "x": 1}, headers=auth())
    undecodable = [
        client.post(
            "/v1/score/by-id",
            content=body,
            headers={**auth(), "content-type": "application/json"},
        )
        for body in (b'{"customer_ids": ["\xff"]}', b'{"customer_ids": [' + b"9" * 5000 + b"]}")
    ]

    assert [response.status_code for response in undecodable] == [422, 422]
    assert all(
        "cannot be read as JSON" in response.json()["error"]["message"] for response in undecodable
    )
    assert shape.status_code == 422
    assert shape.json()["error"]["details"][0]["field"] == "customers[0].features"
    assert shape.json()["error"]["details"][0]["customer_index"] == 0
    assert malformed.status_code == 422
    assert "not valid JSON (at character 15)" in malformed.json()["error"]["message"]
    assert malformed.json()["error"]["details"][0]["field"] == "body"  # not "[15]"
    assert extra.status_code == 422
    assert extra.json()["error"]["details"][0]["field"] == "x"


def test_requests_a_crm_may_send_by_mistake_get_a_4xx_that_says_what_to_fix(
    client: TestClient, world: Config
) -> None:
    """Found by an exploratory run: each of these was a 500, a puzzling 422 or a huge answer."""
    customers = feature_payload(snapshot(world).head(1), required_features(client))
    body = json.dumps({"customers": customers}).encode()
    json_type = {"content-type": "application/json"}

    as_text = client.post(
        "/v1/score", content=body, headers={**auth(), "content-type": "text/plain"}
    )
    untyped = client.post("/v1/score", content=body, headers=auth())
    zipped = client.post(
        "/v1/score",
        content=gzip.compress(body),
        headers={**auth(), **json_type, "content-encoding": "gzip"},
    )
    # a lone surrogate cannot be encoded as UTF-8: echoing it back crashed the error answer
    surrogate = b'{"customer_ids": ["\\ud800"]}'
    by_id = client.post("/v1/score/by-id", content=surrogate, headers={**auth(), **json_type})
    feature = client.post(
        "/v1/score",
        content=b'{"customers": [{"features": {"\\ud800": 1}}]}',
        headers={**auth(), **json_type},
    )
    listed = dict(customers[0]["features"], rfm_orders_30d=[1])
    as_list = client.post("/v1/score", json={"customers": [{"features": listed}]}, headers=auth())
    lax = client.post("/v1/score", json={"customers": customers, "explain": "yes"}, headers=auth())
    country = next(name for name in customers[0]["features"] if name.startswith("static_"))
    novel = dict(customers[0]["features"], **{country: "é" * 100_000})
    long_text = client.post("/v1/score", json={"customers": [{"features": novel}]}, headers=auth())
    many = dict(customers[0]["features"], **{f"no_such_{i}": 1 for i in range(5_000)})
    flood = client.post("/v1/score", json={"customers": [{"features": many}]}, headers=auth())

    assert [as_text.status_code, untyped.status_code, zipped.status_code] == [415, 415, 415]
    assert "Content-Type: application/json" in as_text.json()["error"]["message"]
    assert "Content-Encoding gzip" in zipped.json()["error"]["message"]
    assert [by_id.status_code, feature.status_code] == [422, 422]
    assert as_list.status_code == 422
    assert as_list.json()["error"]["details"] == [
        {
            "field": "customers[0].features.rfm_orders_30d",
            "customer_index": 0,
            "message": "expected a number, true/false, text or null",
        }
    ]
    # a text value of 100,000 characters was scored and echoed back whole in a warning
    assert long_text.status_code == 422
    assert long_text.json()["error"]["details"] == [
        {
            "field": f"customers[0].features.{country}",
            "customer_index": 0,
            "message": "text longer than 256 characters",
        }
    ]
    assert len(long_text.content) < 2_000
    assert lax.status_code == 422 and lax.json()["error"]["details"][0]["field"] == "explain"
    assert flood.status_code == 422
    assert len(flood.json()["error"]["details"]) == 50
    assert "(and 4999 more)" in flood.json()["error"]["message"]
    assert len(flood.content) < 20_000


def test_values_outside_their_unit_range_are_422_naming_the_range(
    client: TestClient, world: Config
) -> None:
    """A negative count or a share above 1 is a CRM's bug: the model, the reason texts ("Spent
    -340 in the last 90 days") and the offer rules would read it as a customer."""
    customers = feature_payload(snapshot(world).head(3), required_features(client))
    customers[0]["features"]["rfm_orders_90d"] = -2
    customers[1]["features"]["rfm_spend_trend_90d"] = 1.5
    customers[2]["features"]["rfm_spend_90d"] = -3.4e38

    response = client.post("/v1/score", json={"customers": customers}, headers=auth())

    assert response.status_code == 422
    details = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert details == {
        "customers[0].features.rfm_orders_90d": (
            "expected a number of at least 0 (its unit's range) or null"
        ),
        "customers[1].features.rfm_spend_trend_90d": (
            "expected a number from -1 to 1 (its unit's range) or null"
        ),
        "customers[2].features.rfm_spend_90d": (
            "expected a number of at least 0 (its unit's range) or null"
        ),
    }


def test_the_key_is_read_as_http_sends_it(client: TestClient) -> None:
    customer = {"customer_ids": ["C0000001"]}
    padded = client.post("/v1/score/by-id", json=customer, headers={"X-API-Key": f"{API_KEY} "})
    twice = client.post(
        "/v1/score/by-id",
        json=customer,
        headers=[("X-API-Key", API_KEY), ("X-API-Key", "crm-key-wrong")],
    )

    assert padded.status_code != 403  # trailing whitespace is not part of a header value
    assert twice.status_code == 400 and "send one" in twice.json()["error"]["message"]


def test_an_internal_error_leaks_no_trace_or_path(
    client: TestClient, world: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    import serving.app

    def broken(*_: Any) -> None:
        raise RuntimeError(f"cannot open {world.paths.features_dir}/secret.parquet")

    monkeypatch.setattr(serving.app, "score_frame", broken)
    customers = feature_payload(snapshot(world).head(1), required_features(client))

    response = client.post("/v1/score", json={"customers": customers}, headers=auth())

    assert response.status_code == 500
    assert response.json()["error"]["message"] == "internal error; the failure was logged"
    assert "Traceback" not in response.text and "secret" not in response.text
    assert str(world.paths.features_dir) not in response.text


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_count_routes_and_statuses_and_show_the_version(
    client: TestClient, world: Config
) -> None:
    customer = snapshot(world)["customer_id"].iloc[0]
    client.post("/v1/score/by-id", json={"customer_ids": [customer]}, headers=auth())
    client.post("/v1/score/by-id", json={"customer_ids": [customer]})
    client.get("/v1/customers/NOPE/score", headers=auth())
    for method in ("PROPFIND", "MKCOL", "LOCK"):  # each was a label series of its own
        assert client.request(method, "/health").status_code == 405

    text = client.get("/metrics").text

    assert 'route="/v1/score/by-id",status="200"' in text
    assert 'route="/v1/score/by-id",status="401"' in text
    assert 'route="/v1/customers/{customer_id}/score",status="404"' in text
    assert 'churn_http_request_duration_seconds_bucket{le="0.005",method="POST"' in text
    assert 'method="other",route="/health",status="405"' in text
    assert "PROPFIND" not in text and "MKCOL" not in text
    assert 'churn_score_probability_count{source="snapshot"}' in text
    assert (
        'churn_model_version{alias="champion",registered_model="churn-classifier",version="1"} 1.0'
        in text
    )


# --- reload ------------------------------------------------------------------------------------


def refresh_until_swapped(holder: Any, before: Any, seconds: float = 20.0) -> None:
    """Refresh as the poll loop does, and wait for the swap: the app's own poll loop may get to
    the changed files between the test's change and this call (CI once saw it), and then this
    call finds nothing left to do. Either way ``holder.current`` must move off ``before``."""
    holder.refresh()
    deadline = time.monotonic() + seconds
    while holder.current is before and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_model_that_cannot_score_is_rejected_and_the_old_one_keeps_serving(
    client: TestClient, world: Config
) -> None:
    good = champion_version(world)
    broken = register_incompatible(world)
    try:
        set_champion(world, broken)
        response = client.post("/v1/admin/reload", headers=auth(ADMIN_KEY))

        assert response.status_code == 409
        assert "previous one keeps serving" in response.json()["error"]["message"]
        assert str(world.paths.features_dir) not in response.text
        assert client.get("/v1/model", headers=auth()).json()["version"] == good
        assert client.get("/ready").json()["ready"] is True
    finally:
        set_champion(world, good)


def test_a_new_snapshot_still_goes_live_while_the_champion_alias_points_at_a_rejected_model(
    client: TestClient, world: Config
) -> None:
    good = champion_version(world)
    holder = client.app.state.holder  # type: ignore[attr-defined]
    broken = register_incompatible(world)
    targets = world.paths.offers_dir / "targets.parquet"
    try:
        set_champion(world, broken)
        assert client.post("/v1/admin/reload", headers=auth(ADMIN_KEY)).status_code == 409
        before = holder.current
        stat = targets.stat()
        os.utime(targets, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        refresh_until_swapped(holder, before)

        assert holder.current is not before
        assert holder.current.store.fingerprint != before.store.fingerprint
        assert holder.current.model.version == good
        assert broken in holder.rejected_versions
        assert not holder.refresh().changed  # and the rejected version is still not retried
    finally:
        set_champion(world, good)
        holder.refresh()
    assert holder.current.model.version == good


def test_a_new_snapshot_still_goes_live_while_the_champion_alias_cannot_be_read(
    client: TestClient, world: Config
) -> None:
    """The registry may be down, locked or lose the alias: the served model stays, and new
    snapshot files still go live (they used to wait until the alias came back)."""
    good = champion_version(world)
    holder = client.app.state.holder  # type: ignore[attr-defined]
    targets = world.paths.offers_dir / "targets.parquet"
    tracking.connect(world.mlflow)
    try:
        tracking.MlflowClient().delete_registered_model_alias(
            world.mlflow.registered_model, world.serve.alias
        )
        reloaded = client.post("/v1/admin/reload", headers=auth(ADMIN_KEY))
        assert reloaded.status_code == 409  # nothing new to load, and the alias is gone
        before = holder.current
        stat = targets.stat()
        os.utime(targets, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        refresh_until_swapped(holder, before)

        assert holder.current is not before
        assert holder.last_error is not None  # the alias error stays visible after the swap
        assert holder.current.store.fingerprint != before.store.fingerprint
        assert holder.current.model.version == good
        ready = client.get("/ready").json()
        assert ready["ready"] is True and "last reload failed" in ready["detail"]
    finally:
        set_champion(world, good)
        holder.refresh()
    assert client.get("/ready").json() == {"ready": True, "version": good, "detail": None}


def test_a_new_champion_is_swapped_in_and_old_answers_finish_on_the_old_model(
    client: TestClient, world: Config
) -> None:
    good = champion_version(world)
    holder = client.app.state.holder  # type: ignore[attr-defined]
    before = holder.current
    copy = register_copy(world, good)
    try:
        set_champion(world, copy)
        reloaded = client.post("/v1/admin/reload", headers=auth(ADMIN_KEY))

        # "changed" is false where the app's 0.5 s poll loop made the swap first: not asserted
        assert reloaded.status_code == 200 and reloaded.json()["version"] == copy
        assert client.get("/v1/model", headers=auth()).json()["version"] == copy
        assert before.model.version == good  # a request holding the old object still has it
        assert holder.current is not before
    finally:
        set_champion(world, good)
        holder.refresh()
    assert holder.current.model.version == good


def test_the_poll_loop_picks_up_a_moved_alias(client: TestClient, world: Config) -> None:
    good = champion_version(world)
    copy = register_copy(world, good)
    try:
        set_champion(world, copy)
        deadline = time.monotonic() + 20
        while client.get("/ready").json()["version"] != copy and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/ready").json()["version"] == copy
    finally:
        set_champion(world, good)


def test_a_changed_snapshot_file_rebuilds_the_store(
    world: Config, keys: None, tmp_path: Path
) -> None:
    from serving.app import create_app

    paths = world.paths.model_copy(
        update={
            "features_dir": tmp_path / "features",
            "explain_dir": tmp_path / "explain",
            "offers_dir": tmp_path / "offers",
        }
    )
    for name in ("features_dir", "explain_dir", "offers_dir"):
        shutil.copytree(getattr(world.paths, name), getattr(paths, name))
    app = create_app(world.model_copy(update={"paths": paths}))
    with TestClient(app) as client:
        wait_ready(client)
        targets = pd.read_parquet(paths.offers_dir / "targets.parquet")
        customer = targets["customer_id"].iloc[0]
        targets.loc[0, "expected_gain"] = 123.25
        targets.to_parquet(paths.offers_dir / "targets.parquet")

        deadline = time.monotonic() + 20
        gain = None
        while gain != 123.25 and time.monotonic() < deadline:
            time.sleep(0.1)
            body = client.post("/v1/score/by-id", json={"customer_ids": [customer]}, headers=auth())
            gain = body.json()["scores"][0]["offer"]["expected_gain"]

    assert gain == 123.25


def test_reasons_and_targets_from_different_models_are_refused_and_the_old_store_serves(
    world: Config, keys: None, tmp_path: Path
) -> None:
    """Read mid-``dvc repro`` (explain rewritten, offers not yet), by-id would pair one run's
    probability with another's reasons; the reload is rejected instead."""
    from serving.app import create_app

    paths = world.paths.model_copy(
        update={name: tmp_path / name for name in ("features_dir", "explain_dir", "offers_dir")}
    )
    for name in ("features_dir", "explain_dir", "offers_dir"):
        shutil.copytree(getattr(world.paths, name), getattr(paths, name))
    app = create_app(world.model_copy(update={"paths": paths}))
    with TestClient(app) as client:
        wait_ready(client)
        holder = app.state.holder
        before = holder.current
        reasons = pd.read_parquet(paths.explain_dir / "snapshot_reasons.parquet")
        reasons["churn_probability"] = (
            reasons["churn_probability"].sample(frac=1.0, random_state=0).to_numpy()
        )
        reasons.to_parquet(paths.explain_dir / "snapshot_reasons.parquet")

        outcome = holder.refresh()

        assert outcome.error is not None and "different churn probabilities" in outcome.error
        assert holder.current is before
