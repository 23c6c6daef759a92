from __future__ import annotations

from serving.scoring import unseen_category_warnings, unseen_rule_value_warnings

KNOWN = {
    "static_country": frozenset({"DE", "FR", "GB"}),
    "loyalty_member": frozenset({"True", "False"}),
}


def test_values_seen_in_training_get_no_warning() -> None:
    assert unseen_category_warnings(KNOWN, {"static_country": "FR", "loyalty_member": False}) == []
    assert unseen_category_warnings(KNOWN, {"rfm_orders_365d": 3}) == []  # not categorical


def test_a_miscased_or_new_category_is_named_with_the_known_values() -> None:
    [warning] = unseen_category_warnings(KNOWN, {"static_country": "fr", "loyalty_member": True})

    assert warning == (
        'static_country: "fr" was not seen in training; scored as an unknown category '
        '(known: "DE", "FR", "GB")'
    )


def test_a_null_is_unseen_where_training_had_none_and_fine_where_it_had_some() -> None:
    [warning] = unseen_category_warnings(KNOWN, {"loyalty_member": None})
    assert warning.startswith("loyalty_member: null was not seen in training")

    with_nulls = {"static_country": KNOWN["static_country"] | {"missing"}}
    assert unseen_category_warnings(with_nulls, {"static_country": None}) == []
    assert ", null)" in unseen_category_warnings(with_nulls, {"static_country": "XX"})[0]


def test_a_long_list_of_known_values_is_cut() -> None:
    known = {"static_region": frozenset(f"R{index:02d}" for index in range(30))}

    [warning] = unseen_category_warnings(known, {"static_region": "R99"})

    assert warning.endswith('"R11" and 18 more)')


def test_a_rule_only_text_value_outside_the_snapshot_is_named_and_a_null_is_not() -> None:
    seen = {"static_country": frozenset({"DE", "FR"})}

    assert unseen_rule_value_warnings(seen, {"static_country": "FR"}) == []
    assert unseen_rule_value_warnings(seen, {"static_country": None}) == []  # fails the rule
    assert unseen_rule_value_warnings(seen, {"static_country": "fr"}) == [
        'static_country: "fr" is not a value of the scoring snapshot; the offer rules compare '
        'it as sent (snapshot values: "DE", "FR")'
    ]


def test_the_known_values_of_a_boolean_column_are_shown_as_json_booleans() -> None:
    """The request check only lets true/false/null through for a boolean column, so the
    warning must not suggest the encoder's text "True"."""
    [warning] = unseen_category_warnings(KNOWN, {"loyalty_member": None}, ("loyalty_member",))

    assert warning.endswith("(known: false, true)")
    [text] = unseen_category_warnings(KNOWN, {"loyalty_member": None})
    assert text.endswith('(known: "False", "True")')  # a text column holding those words
