from __future__ import annotations

import pytest

from features.definitions import (
    CATALOGUE,
    FAMILIES,
    UNIT_RANGES,
    FeatureNameError,
    UnknownFeatureError,
    definitions_hash,
    describe,
    feature_definitions,
    feature_slug,
)


def test_every_feature_is_named_after_its_family_and_names_are_unique() -> None:
    names = [feature.name for feature in CATALOGUE]

    assert len(names) == len(set(names))
    for feature in CATALOGUE:
        assert feature.family in FAMILIES
        assert feature.name.startswith(f"{feature.family}_")
        assert feature.source in FAMILIES[feature.family].sources


def test_describe_a_fixed_feature() -> None:
    feature = describe("rfm_orders_90d")

    assert (feature.family, feature.window_days, feature.unit) == ("rfm", 90, "orders")


def test_describe_resolves_an_event_type_feature() -> None:
    feature = describe("events_count_90d_web_session")

    assert feature.name == "events_count_90d_web_session"
    assert (feature.family, feature.window_days) == ("events", 90)
    assert feature.description == "`web_session` events in the 90 days before."
    assert describe("events_days_since_web_session").unit == "days"
    assert describe("static_country").description.startswith("The `country` column")


@pytest.mark.parametrize("name", ["rfm_orders_7d", "events_count_90d_", "churned"])
def test_describe_refuses_unknown_names(name: str) -> None:
    with pytest.raises(UnknownFeatureError, match=f"unknown feature '{name}'"):
        describe(name)


def test_patterns_expand_per_value_in_catalogue_order() -> None:
    names = [
        feature.name
        for feature in feature_definitions(
            event_types=["Web Session", "app_login"], families=["events"]
        )
    ]

    assert names == [
        "events_count_30d_app_login",
        "events_count_30d_web_session",
        "events_count_90d_app_login",
        "events_count_90d_web_session",
        "events_count_365d_app_login",
        "events_count_365d_web_session",
        "events_days_since_app_login",
        "events_days_since_web_session",
    ]
    assert [f.name for f in feature_definitions(families=["static"])] == ["static_{attribute}"]


def test_slugs_are_lower_case_with_underscores_and_collisions_are_refused() -> None:
    assert feature_slug("  Web-Session (mobile) ") == "web_session_mobile"
    with pytest.raises(FeatureNameError, match="'---' has no letters or digits"):
        feature_slug("---")
    with pytest.raises(FeatureNameError, match="'web session' and 'web_session'"):
        feature_definitions(event_types=["web session", "web_session"])


def test_the_hash_changes_with_the_definitions() -> None:
    features = feature_definitions(event_types=["a"], static_attributes=["b"])

    assert definitions_hash(features) == definitions_hash(list(features))
    assert definitions_hash(features) != definitions_hash(features[:-1])


UNBOUNDED_UNITS = {"currency per month", "as exported"}
"""Units without a range: a change in monthly revenue may be negative; static attributes are
the export's own values."""


def test_every_unit_in_the_catalogue_has_a_range_or_is_known_to_have_none() -> None:
    """A new unit must decide its range: the scoring service refuses request values outside it."""
    units = {feature.unit for feature in CATALOGUE}
    assert units - UNBOUNDED_UNITS == set(UNIT_RANGES)
    assert describe("rfm_orders_30d").valid_range == (0.0, None)
    assert describe("rfm_spend_trend_90d").valid_range == (-1.0, 1.0)
    assert describe("subscription_mrr_change_90d").valid_range == (None, None)
