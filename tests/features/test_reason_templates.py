"""Reason-code wording: every feature of the catalogue has a template and a group, and each
family's wording reads right for hand-picked values (including missing ones)."""

from __future__ import annotations

import math

import pytest

from features.definitions import FAMILIES, feature_definitions
from features.reason_templates import GROUPS, TEMPLATES, event_group, render, template_for

EVENT_TYPES = ["email_open", "web_session", "cart_add", "loyalty_redeem", "survey_nps", "referral"]
EVENT_TYPES += ["app_login", "store_visit"]
ATTRIBUTES = ["plan", "country", "acquisition_channel", "loyalty_member", "preferred_store"]

ROW = {
    "rfm_days_since_last_order": 74.4,
    "rfm_gap_mean_days_365d": 21.2,
    "rfm_gap_std_days_365d": 9.0,
    "rfm_gap_ratio": 3.5,
    "rfm_orders_90d": 1.0,
    "rfm_orders_30d": 0.0,
    "rfm_spend_365d": 1234.5,
    "rfm_spend_trend_90d": -0.6,
    "rfm_orders_trend_30d": -1.0,
    "rfm_return_share_365d": 0.25,
    "lifecycle_days_since_signup": 731.0,
    "lifecycle_days_since_first_order": math.nan,
    "support_tickets_90d": 3.0,
    "support_tickets_365d": 5.0,
    "support_first_response_hours_max_365d": 52.4,
    "support_first_response_hours_mean_365d": 6.25,
    "support_unresolved_tickets": 1.0,
    "support_last_csat": 2.0,
    "engagement_email_open_rate_90d": 0.05,
    "engagement_email_click_rate_90d": math.nan,
    "engagement_email_unsubscribes_365d": 1.0,
    "engagement_cart_abandon_rate_90d": 0.8,
    "voice_last_nps": 3.0,
    "voice_nps_change": -4.0,
    "voice_days_since_last_nps": None,
    "loyalty_member": 1.0,
    "loyalty_points_earned_90d": 0.0,
    "loyalty_days_since_last_redeem": 200.0,
    "events_count_30d_email_open": 0.0,
    "events_days_since_web_session": 45.2,
    "events_count_90d_store_visit": 2.0,
    "offers_received_365d": 3.0,
    "offers_redeemed_365d": 0.0,
    "static_plan": "basic",
    "static_acquisition_channel": "paid_search",
    "static_loyalty_member": "False",
    "static_preferred_store": "missing",
}


def test_every_catalogue_feature_has_a_template_in_a_known_group() -> None:
    features = feature_definitions(event_types=EVENT_TYPES, static_attributes=ATTRIBUTES)

    for feature in features:
        resolved = template_for(feature.name)
        assert resolved.group.name in GROUPS
        assert resolved.definition.family == feature.family
        assert render(feature.name, {feature.name: 1.0})  # renders with only its own value


def test_templates_cover_only_catalogue_features_and_every_family_has_groups() -> None:
    catalogue = {f.name for f in feature_definitions()}

    assert {t.feature for t in TEMPLATES} - catalogue <= {
        "static_plan",
        "static_acquisition_channel",
        "static_country",
        "static_loyalty_member",
    }
    assert {group.family for group in GROUPS.values()} == set(FAMILIES)


@pytest.mark.parametrize(
    ("feature", "expected"),
    [
        # rfm
        ("rfm_days_since_last_order", "No order for 74 days (usual gap 21 days)"),
        ("rfm_gap_ratio", "No order for 74 days (usual gap 21 days)"),
        ("rfm_orders_30d", "No orders in the last 30 days"),
        ("rfm_orders_90d", "1 order in the last 90 days"),
        ("rfm_spend_365d", "Spent 1,234.50 in the last 365 days"),
        ("rfm_spend_trend_90d", "Spending down over the last 90 days compared with the 90 before"),
        (
            "rfm_orders_trend_30d",
            "Orders stopped over the last 30 days compared with the 30 before",
        ),
        ("rfm_return_share_365d", "Returned 25% of orders in the last year"),
        # lifecycle
        ("lifecycle_days_since_signup", "Customer for 731 days"),
        ("lifecycle_days_since_first_order", "Has not ordered yet"),
        # support
        (
            "support_tickets_90d",
            "3 support tickets in 90 days; slowest first response in the last year 52 h",
        ),
        (
            "support_first_response_hours_max_365d",
            "Slowest first response in the last year 52 h (5 support tickets)",
        ),
        (
            "support_first_response_hours_mean_365d",
            "Support answers took 6.2 h on average (5 tickets in the last year)",
        ),
        ("support_unresolved_tickets", "1 support ticket still unresolved"),
        ("support_last_csat", "Rated the last support contact 2 of 5"),
        ("support_days_since_last_ticket", "Never contacted support"),
        # engagement
        ("engagement_email_open_rate_90d", "Opened 5% of marketing e-mails in the last 90 days"),
        ("engagement_email_click_rate_90d", "No marketing e-mail sent in the last 90 days"),
        ("engagement_cart_abandon_rate_90d", "Abandoned 80% of carts in the last 90 days"),
        # voice
        ("voice_last_nps", "Last NPS answer 3 of 10"),
        (
            "voice_nps_change",
            "NPS changed by -4 points since the first answer (now 3)",
        ),
        ("voice_days_since_last_nps", "Never answered an NPS survey"),
        # loyalty
        ("loyalty_member", "Earned or redeemed loyalty points within the history: yes"),
        ("loyalty_points_earned_90d", "Earned no loyalty points in the last 90 days"),
        ("loyalty_days_since_last_redeem", "Last redeemed loyalty points 200 days ago"),
        # events
        ("events_count_30d_email_open", "No email open events in the last 30 days"),
        ("events_days_since_web_session", "Last web session 45 days ago"),
        ("events_count_90d_store_visit", "2 store visit events in the last 90 days"),
        ("events_days_since_referral", "No referral within the history"),
        # offers
        ("offers_received_365d", "Received 3 retention offers in the last year (redeemed 0)"),
        ("offers_days_since_last_offer", "Never received a retention offer"),
        # static
        ("static_plan", "On the basic plan"),
        ("static_acquisition_channel", "Joined through paid search"),
        ("static_loyalty_member", "Signed up to the loyalty programme: no"),
        ("static_preferred_store", "Preferred store unknown"),
    ],
)
def test_wording_per_family(feature: str, expected: str) -> None:
    assert render(feature, ROW) == expected


def test_lowering_wording_differs_where_the_raising_one_would_mislead() -> None:
    row = {"rfm_days_since_last_order": 3.0, "rfm_gap_mean_days_365d": 30.0}

    assert render("rfm_days_since_last_order", row, raises=False) == (
        "Last order 3 days ago (usual gap 30 days)"
    )
    assert render("rfm_days_since_last_order", row, raises=True).startswith("No order for")


def test_a_quoted_companion_value_that_is_missing_falls_back_to_a_shorter_text() -> None:
    row = {"rfm_days_since_last_order": 0.4, "rfm_gap_mean_days_365d": None}

    assert render("rfm_days_since_last_order", row) == "No order for less than a day"


def test_a_usual_gap_under_a_day_is_not_quoted() -> None:
    """Two orders on one day make a mean gap of hours: "usual gap less than a day" misleads."""
    row = {
        "rfm_days_since_last_order": 327.0,
        "rfm_gap_mean_days_365d": 0.43,
        "rfm_gap_std_days_365d": 0.2,
        "rfm_gap_ratio": 760.0,
    }

    assert render("rfm_days_since_last_order", row) == "No order for 327 days"
    assert render("rfm_days_since_last_order", row, raises=False) == "Last order 327 days ago"
    assert render("rfm_gap_ratio", row) == "Order overdue: 760.0× the usual gap"
    assert render("rfm_gap_std_days_365d", row) == (
        "Irregular ordering: gaps vary by less than a day"
    )
    assert render("rfm_gap_mean_days_365d", row) == (
        "Orders come close together: under a day apart on average"
    )
    row["rfm_gap_mean_days_365d"] = 1.0
    assert render("rfm_days_since_last_order", row) == "No order for 327 days (usual gap 1 day)"


def test_a_negative_zero_score_reads_as_zero() -> None:
    assert render("voice_last_nps", {"voice_last_nps": -0.0}) == "Last NPS answer 0 of 10"


def test_short_window_order_counts_join_recency_so_one_fact_makes_one_reason() -> None:
    groups = {template.feature: template.group for template in TEMPLATES}

    assert groups["rfm_orders_90d"] == groups["rfm_days_since_last_order"] == "order recency"
    assert groups["rfm_spend_30d"] == "order recency"
    assert groups["rfm_orders_365d"] == groups["rfm_spend_365d"] == "purchase decline"


@pytest.mark.parametrize(
    ("event_type", "group"),
    [
        ("email_click", "e-mail disengagement"),
        ("web_session", "site and cart activity"),
        ("cart_abandon", "site and cart activity"),
        ("loyalty_earn", "loyalty inactivity"),
        ("referral", "loyalty inactivity"),
        ("survey_nps", "low satisfaction"),
        ("store_visit", "other touchpoints"),
    ],
)
def test_event_types_join_the_group_of_their_kind_of_touchpoint(
    event_type: str, group: str
) -> None:
    assert event_group(event_type) == group
    assert template_for(f"events_count_90d_{event_type}").group.name == group


def test_actionable_groups_are_the_ones_the_business_can_change() -> None:
    assert GROUPS["support friction"].actionable
    assert GROUPS["e-mail disengagement"].actionable
    assert not GROUPS["tenure"].actionable
    assert not GROUPS["customer profile"].actionable


def test_no_template_text_holds_the_separator_of_reason_texts() -> None:
    """reason_texts joined with "; ", which texts use too: 402 customers' 3 reasons split in 4."""
    from models.reasons import REASON_SEPARATOR

    texts = [
        text
        for template in TEMPLATES
        for text in (*template.texts, *template.lowering, template.missing or "")
    ]
    texts += [state.text for group in GROUPS.values() for state in group.states]
    assert not [text for text in texts if REASON_SEPARATOR.strip() in text]
