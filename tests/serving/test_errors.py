"""Validation locations become field paths with the customer's index."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from core.config import ServeConfig
from serving.errors import (
    ApiError,
    customer_index,
    error_body,
    error_json,
    field_path,
    install,
    oversized_batch,
    validation_details,
)
from serving.schemas import MAX_TEXT_LENGTH, ScoreRequest


def test_field_paths_and_customer_index() -> None:
    location = ("body", "customers", 3, "features", "rfm_orders_30d")

    assert field_path(location) == "customers[3].features.rfm_orders_30d"
    assert customer_index(location) == 3
    assert customer_index(("body", "customer_ids", 7)) == 7
    assert customer_index(("body", "explain")) is None
    assert field_path(("body",)) == "body"


def test_details_leave_the_input_out_and_name_bad_json() -> None:
    errors = [
        {"loc": ("body", "customer_ids", 0), "msg": "Input should be a valid string", "input": 5},
        {"loc": ("body", 12), "msg": "JSON decode error", "type": "json_invalid", "input": "{"},
    ]

    details = validation_details(errors)

    assert details == [
        {
            "field": "customer_ids[0]",
            "customer_index": 0,
            "message": "Input should be a valid string",
        },
        {
            "field": "body",  # the location's 12 is a character offset, not a list index
            "customer_index": None,
            "message": "the body is not valid JSON (at character 12)",
        },
    ]


def _app() -> FastAPI:
    """A small app with the service's error handlers, its request model and failing routes."""
    app = FastAPI()
    install(app)
    app.state.settings = ServeConfig(max_batch_size=2)

    @app.post("/v1/score")
    async def score(request: ScoreRequest) -> dict[str, int]:
        return {"customers": len(request.customers)}

    @app.get("/refused")
    async def refused() -> None:
        details = [{"field": f"customer_ids[{i}]", "message": "unknown"} for i in range(60)]
        raise ApiError(404, "60 unknown ids", details, headers={"X-Reason": "ids"})

    @app.get("/http/{status}/{detail}")
    async def http(status: int, detail: str) -> None:
        raise HTTPException(
            status, "There was an error parsing the body" if detail == "-" else detail
        )

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("cannot open /srv/secret.parquet")

    return app


def test_an_api_error_keeps_its_status_and_headers_and_lists_at_most_fifty_details() -> None:
    with TestClient(_app()) as client:
        response = client.get("/refused")

    assert response.status_code == 404 and response.headers["X-Reason"] == "ids"
    error = response.json()["error"]
    assert (error["status"], error["message"]) == (404, "60 unknown ids")
    assert [d["field"] for d in error["details"]] == [f"customer_ids[{i}]" for i in range(50)]
    assert str(ApiError(409, "rejected")) == "rejected"
    assert error_body(400, "bad") == {"error": {"status": 400, "message": "bad", "details": []}}


def test_a_422_names_the_first_field_and_customer_and_counts_the_others() -> None:
    too_long = "x" * (MAX_TEXT_LENGTH + 1)
    body = {"customers": [{"features": {"a": 1.0}}, {"features": {"b": [1], "c": too_long}}]}

    with TestClient(_app()) as client:
        many = client.post("/v1/score", json=body)
        one = client.post("/v1/score", json={"customers": [{"features": {"b": {}}}]})

    assert many.status_code == 422
    error = many.json()["error"]
    assert error["status"] == 422
    # one line per bad value, not one per member of the value's union type
    assert error["details"] == [
        {
            "field": "customers[1].features.b",
            "customer_index": 1,
            "message": "expected a number, true/false, text or null",
        },
        {
            "field": "customers[1].features.c",
            "customer_index": 1,
            "message": f"text longer than {MAX_TEXT_LENGTH} characters",
        },
    ]
    assert error["message"] == (
        "invalid request: customers[1].features.b (customer index 1): expected a number, "
        "true/false, text or null (and 1 more)"
    )
    assert one.status_code == 422
    assert one.json()["error"]["message"] == (
        "invalid request: customers[0].features.b (customer index 0): expected a number, "
        "true/false, text or null"
    )


def test_a_batch_over_the_limit_is_413_and_one_at_the_limit_is_validated() -> None:
    with TestClient(_app()) as client:
        over = client.post("/v1/score", json={"customers": [{"bad": 1}] * 3})
        at_limit = client.post("/v1/score", json={"customers": [{"bad": 1}] * 2})

    assert over.status_code == 413 and over.json()["error"]["status"] == 413
    assert over.json()["error"]["message"] == "batch of 3 customers exceeds the limit of 2"
    assert at_limit.status_code == 422
    assert oversized_batch({"customers": [1, 2, 3]}, None, 2) is None
    assert oversized_batch([1, 2, 3], "customers", 2) is None


def test_only_an_undecodable_body_turns_a_400_into_a_422() -> None:
    with TestClient(_app()) as client:
        undecodable = client.get("/http/400/-")
        other_400 = client.get("/http/400/two keys")
        not_found = client.get("/http/404/-")

    assert undecodable.status_code == 422 and undecodable.json()["error"]["status"] == 422
    assert "cannot be read as JSON" in undecodable.json()["error"]["message"]
    assert (other_400.status_code, other_400.json()["error"]["message"]) == (400, "two keys")
    assert not_found.status_code == 404


def test_an_unexpected_error_is_a_bare_500_and_logged_with_its_trace() -> None:
    with capture_logs() as logs, TestClient(_app(), raise_server_exceptions=False) as client:
        response = client.get("/boom")

    assert response.status_code == 500
    assert response.json() == {
        "error": {"status": 500, "message": "internal error; the failure was logged", "details": []}
    }
    assert [
        (log["event"], log["error_type"], log["exc_info"])
        for log in logs
        if log["log_level"] == "error"
    ] == [("unhandled error", "RuntimeError", True)]


def test_error_bodies_are_ascii_json_even_for_a_lone_surrogate() -> None:
    assert error_json({"id": "\ud800é"}) == b'{"id":"\\ud800\\u00e9"}'


def test_locations_outside_the_body_and_at_a_list_end() -> None:
    assert field_path(("query", "alias")) == "query.alias"
    assert field_path(()) == "body"
    assert customer_index(("body", "customers")) is None
    assert validation_details([{"loc": ("body",), "msg": "x", "type": "json_invalid"}]) == [
        {"field": "body", "customer_index": None, "message": "the body is not valid JSON"}
    ]
