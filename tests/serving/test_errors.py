"""Validation locations become field paths with the customer's index."""

from __future__ import annotations

from serving.errors import customer_index, field_path, validation_details


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
