from __future__ import annotations

import datetime as dt
import math

import pytest
from pandas.testing import assert_frame_equal

from core.config import FeaturesConfig
from features import families as family_registry
from features.build import (
    DataSpan,
    FeatureDefinitionError,
    SnapshotDateError,
    build_features,
    check_label_table_current,
    compute_features,
    cut_short_cutoffs,
    data_span,
    missing_sources,
    output_definitions,
    resolve_snapshot_date,
)
from features.definitions import feature_definitions
from features.families.base import Family
from tests.features.raw_tables import CHURN, by_customer, customers, events, only, orders, table

CUTOFF = dt.date(2024, 7, 1)


def world() -> dict:
    """Two customers with orders, events, a ticket, an offer and a subscription around
    2024-07-01."""
    return {
        "customers": table(
            "customers",
            [
                {"customer_id": "A", "signup_date": "2023-01-01", "country": "DE"},
                {"customer_id": "B", "signup_date": "2023-06-01", "country": "FR"},
            ],
        ),
        "orders": orders(
            ("A", "2024-06-21 00:00", 50.0),
            ("A", "2024-08-01 00:00", 20.0),
            ("B", "2024-05-01 00:00", 10.0),
        ),
        "events": events(
            ("A", "2024-06-26 00:00", "email_sent"),
            ("A", "2024-06-27 00:00", "email_open"),
            ("B", "2024-06-30 00:00", "web_session"),
            ("B", "2024-08-30 00:00", "survey_nps", 2.0),
        ),
        "support_tickets": table(
            "support_tickets",
            [
                {
                    "ticket_id": "T1",
                    "customer_id": "B",
                    "opened_ts": "2024-06-01 00:00",
                    "first_response_ts": "2024-06-01 05:00",
                    "resolved_ts": "2024-06-02 00:00",
                    "channel": "chat",
                    "csat": 3,
                }
            ],
        ),
        "offers": table(
            "offers",
            [
                {
                    "customer_id": "A",
                    "campaign_id": "C1",
                    "offer_id": "bonus_points",
                    "sent_ts": "2024-06-11 00:00",
                    "group": "treatment",
                    "redeemed_ts": None,
                }
            ],
        ),
        "subscriptions": table(
            "subscriptions",
            [
                {
                    "subscription_id": "S1",
                    "customer_id": "A",
                    "start_date": "2024-01-01",
                    "end_date": None,
                    "mrr": 9.5,
                }
            ],
        ),
    }


def test_columns_are_keys_catalogue_features_in_order_and_the_label() -> None:
    frame = compute_features(world(), [CUTOFF], FeaturesConfig(), CHURN)

    expected = feature_definitions(
        event_types=["email_open", "email_sent", "web_session"], static_attributes=["country"]
    )
    assert list(frame.columns) == [
        "customer_id",
        "cutoff_date",
        *(feature.name for feature in expected),
        "churned",
    ]
    assert [d.name for d in output_definitions(list(frame.columns))] == [f.name for f in expected]
    assert frame[["customer_id", "churned"]].to_dict("records") == [
        {"customer_id": "A", "churned": 0},
        {"customer_id": "B", "churned": 1},
    ]
    assert str(frame["cutoff_date"].iloc[0].date()) == "2024-07-01"


def test_rows_are_sorted_by_cutoff_then_customer() -> None:
    frame = compute_features(world(), [dt.date(2024, 7, 1), dt.date(2024, 6, 25)], only(), CHURN)

    assert [(str(r.cutoff_date.date()), r.customer_id) for r in frame.itertuples()] == [
        ("2024-06-25", "A"),
        ("2024-06-25", "B"),
        ("2024-07-01", "A"),
        ("2024-07-01", "B"),
    ]


def test_the_snapshot_is_the_same_features_without_a_label() -> None:
    labelled = compute_features(world(), [CUTOFF], FeaturesConfig(), CHURN)

    snapshot = compute_features(world(), [CUTOFF], FeaturesConfig(), CHURN, labelled=False)

    assert "churned" not in snapshot.columns
    assert_frame_equal(snapshot, labelled.drop(columns="churned"))


def test_features_only_see_the_past() -> None:
    past_only = {
        name: table.filter(table[column] < dt.datetime(2024, 7, 1))
        for name, table, column in [
            ("orders", world()["orders"], "order_ts"),
            ("events", world()["events"], "ts"),
        ]
    }
    full = compute_features(world(), [CUTOFF], FeaturesConfig(), CHURN, labelled=False)

    truncated = compute_features(
        world() | past_only, [CUTOFF], FeaturesConfig(), CHURN, labelled=False
    )

    assert_frame_equal(full, truncated)


@pytest.mark.usefixtures("info_logs")
def test_missing_optional_tables_switch_their_families_off_with_a_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tables = {name: t for name, t in world().items() if name in ("customers", "orders")}

    frame = compute_features(tables, [CUTOFF], FeaturesConfig(), CHURN)

    families = {column.split("_")[0] for column in frame.columns[2:-1]}
    assert families == {"rfm", "lifecycle", "static"}
    assert missing_sources(tables, FeaturesConfig().families) == {
        "support": ["support_tickets"],
        "engagement": ["events"],
        "voice": ["events"],
        "loyalty": ["events"],
        "events": ["events"],
        "offers": ["offers"],
        "subscription": ["subscriptions"],
    }
    lines = capsys.readouterr().err.splitlines()
    for family, table_name in [("support", "support_tickets"), ("voice", "events")]:
        [line] = [line for line in lines if f"feature family off family={family} " in line]
        assert f"reason='table(s) {table_name} absent'" in line


def test_families_switched_off_in_params_leave_no_columns() -> None:
    frame = compute_features(world(), [CUTOFF], only("voice", "offers"), CHURN)

    assert [c for c in frame.columns if c not in ("customer_id", "cutoff_date", "churned")] == [
        "voice_last_nps",
        "voice_nps_change",
        "voice_days_since_last_nps",
        "offers_received_365d",
        "offers_redeemed_365d",
        "offers_days_since_last_offer",
    ]


def test_history_days_bounds_what_days_since_features_see() -> None:
    tables = {
        "customers": customers("A"),
        "orders": orders(("A", "2024-06-21 00:00", 5.0)),
        "events": events(("A", "2023-05-28 00:00", "referral")),  # 400 days before
    }

    wide = compute_features(tables, [CUTOFF], only("events"), CHURN)
    narrow = compute_features(tables, [CUTOFF], only("events", history_days=365), CHURN)
    exact = compute_features(tables, [CUTOFF], only("events", history_days=400), CHURN)

    assert by_customer(wide)["A"]["events_days_since_referral"] == 400.0
    assert math.isnan(by_customer(narrow)["A"]["events_days_since_referral"])
    assert by_customer(exact)["A"]["events_days_since_referral"] == 400.0  # the start is inside


def test_a_family_computing_other_features_than_catalogued_fails_the_build(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = Family(name="offers", values=lambda frame, context: {"offers_bogus": frame.cutoff_ts})
    monkeypatch.setitem(family_registry.FAMILIES, "offers", broken)

    with pytest.raises(FeatureDefinitionError, match="offers_bogus"):
        build_features(world(), [CUTOFF], only("offers"), CHURN)


def test_snapshot_date_is_the_day_after_the_latest_order_or_event() -> None:
    assert resolve_snapshot_date(world(), FeaturesConfig()) == dt.date(2024, 8, 31)
    assert resolve_snapshot_date(
        {"orders": world()["orders"]}, FeaturesConfig(snapshot_date=dt.date(2025, 1, 1))
    ) == dt.date(2025, 1, 1)


def test_snapshot_date_of_a_subscription_export_without_orders_or_events() -> None:
    subscriptions = table(
        "subscriptions",
        [
            {
                "subscription_id": "S1",
                "customer_id": "A",
                "start_date": "2023-01-01",
                "end_date": "2024-02-10",
                "mrr": 9.0,
            }
        ],
    )

    # the day after the latest start: an end date can be scheduled after the export (a
    # placeholder 2099-12-31 put the snapshot in 2100 and every labelled cutoff after the data)
    assert resolve_snapshot_date({"subscriptions": subscriptions}, FeaturesConfig()) == dt.date(
        2023, 1, 2
    )
    with pytest.raises(SnapshotDateError, match=r"features\.snapshot_date"):
        resolve_snapshot_date({"customers": customers("A")}, FeaturesConfig())


def test_export_spellings_of_the_families_own_event_types_are_types_of_their_own() -> None:
    raw = world()
    raw["events"] = events(
        ("A", "2024-06-20 00:00", "Referral"),  # the loyalty family counts "referral"
        ("A", "2024-06-21 00:00", "アプリ起動"),  # no ASCII letters at all
    )

    frame = compute_features(raw, [CUTOFF], FeaturesConfig(), CHURN)

    a = by_customer(frame)["A"]
    assert a["events_count_30d_referral"] == 1
    assert a["events_count_30d_アプリ起動"] == 1
    assert a["loyalty_referrals_365d"] == 0


def test_cutoffs_whose_window_starts_before_the_first_order_or_event_are_cut_short() -> None:
    span = data_span(world())  # B's order on 2024-05-01 precedes every event
    full, short = dt.date(2025, 5, 1), dt.date(2025, 4, 30)

    assert span.start == dt.date(2024, 5, 1)
    assert span.end == dt.date(2024, 8, 31)  # the day after the last event (2024-08-30)
    assert cut_short_cutoffs([short, full], span.start, 365) == [short]
    assert cut_short_cutoffs([short], None, 365) == []
    assert data_span({"customers": customers("A")}) == DataSpan(None, None)
    assert span.ends == {"orders": dt.date(2024, 8, 2), "events": dt.date(2024, 8, 31)}


def test_orders_ending_weeks_before_a_label_horizon_ends_are_refused_for_inactivity() -> None:
    """Orders exported to 2024-08-31 beside events to 2024-12-31 labelled 100% of the latest
    cutoffs as churned, with no word."""
    span = DataSpan(
        dt.date(2023, 1, 1),
        dt.date(2025, 1, 1),
        {"orders": dt.date(2024, 9, 1), "events": dt.date(2025, 1, 1)},
    )
    cutoffs = [dt.date(2024, 9, 3), dt.date(2024, 10, 3)]

    with pytest.raises(SnapshotDateError) as refused:
        check_label_table_current(span, cutoffs, 90, dt.date(2025, 1, 1), "inactivity", True)

    assert str(refused.value) == (
        "the orders end on 2024-08-31, but the labels of the cutoffs up to 2024-10-03 read "
        "orders until 2024-12-31 (the snapshot date 2025-01-01 is the day after the latest dated "
        "row (events to 2024-12-31)): 122 days without a single order would label every "
        "customer of the latest cutoffs as churned. Export every table to the same date (a date "
        "far after the others is often a mis-keyed row), or set features.snapshot_date earlier"
    )
    with pytest.raises(SnapshotDateError, match=r"features\.snapshot_date is 2024-12-01"):
        check_label_table_current(span, cutoffs, 60, dt.date(2024, 12, 1), "inactivity", False)
    # another label, no orders table: nothing to refuse
    check_label_table_current(span, cutoffs, 90, dt.date(2025, 1, 1), "subscription", True)
    no_orders = DataSpan(None, None)
    check_label_table_current(no_orders, cutoffs, 90, dt.date(2025, 1, 1), "inactivity", True)


def test_orders_ending_before_the_snapshot_but_after_every_label_horizon_only_warn() -> None:
    """Cutoffs every 60 days with a 30-day horizon: the labels end 2024-12-02, before orders
    stop on 2024-12-19; refusing said labels were wrong when none was."""
    span = DataSpan(
        dt.date(2023, 1, 1),
        dt.date(2025, 1, 1),
        {"orders": dt.date(2024, 12, 20), "events": dt.date(2025, 1, 1)},
    )
    snapshot = dt.date(2025, 1, 1)

    lag = check_label_table_current(span, [dt.date(2024, 11, 2)], 30, snapshot, "inactivity", True)

    assert lag == 12  # the snapshot's own order features miss those days: a warning
    quiet_week = DataSpan(None, None, {"orders": dt.date(2024, 12, 28)})
    assert (
        check_label_table_current(
            quiet_week, [dt.date(2024, 10, 3)], 90, snapshot, "inactivity", True
        )
        is None
    )
