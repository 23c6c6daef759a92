from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from synthetic.rows import EVENT_TYPES
from tests.synthetic.conftest import World

TS = pa.timestamp("us")
EXPECTED_SCHEMAS = {
    "customers": {
        "customer_id": pa.string(),
        "signup_date": pa.date32(),
        "country": pa.string(),
        "acquisition_channel": pa.string(),
        "plan": pa.string(),
        "loyalty_member": pa.bool_(),
    },
    "orders": {
        "order_id": pa.string(),
        "customer_id": pa.string(),
        "order_ts": TS,
        "amount": pa.float64(),
        "n_items": pa.int32(),
        "discount_amount": pa.float64(),
        "channel": pa.string(),
        "status": pa.string(),
    },
    "events": {
        "customer_id": pa.string(),
        "ts": TS,
        "event_type": pa.string(),
        "value": pa.float64(),
    },
    "support_tickets": {
        "ticket_id": pa.string(),
        "customer_id": pa.string(),
        "opened_ts": TS,
        "first_response_ts": TS,
        "resolved_ts": TS,
        "channel": pa.string(),
        "csat": pa.int32(),
    },
    "offers": {
        "customer_id": pa.string(),
        "campaign_id": pa.string(),
        "offer_id": pa.string(),
        "sent_ts": TS,
        "group": pa.string(),
        "redeemed_ts": TS,
    },
}
TIMESTAMP_COLUMNS = {
    "orders": ["order_ts"],
    "events": ["ts"],
    "support_tickets": ["opened_ts", "first_response_ts", "resolved_ts"],
    "offers": ["sent_ts", "redeemed_ts"],
}


@pytest.mark.parametrize("table", sorted(EXPECTED_SCHEMAS))
def test_schema_follows_the_contract(world: World, table: str) -> None:
    schema = pq.read_schema(world.raw_dir / table / "part-00000.parquet")
    assert dict(zip(schema.names, schema.types, strict=True)) == EXPECTED_SCHEMAS[table]
    assert schema.metadata is None or b"pandas" not in schema.metadata


def test_ids_are_unique_and_every_customer_reference_exists(
    tables: dict[str, pd.DataFrame],
) -> None:
    customers = tables["customers"]
    assert customers["customer_id"].is_unique
    assert customers["customer_id"].str.fullmatch(r"C\d{7}").all()
    assert tables["orders"]["order_id"].is_unique
    assert tables["support_tickets"]["ticket_id"].is_unique
    assert not tables["offers"].duplicated(["customer_id", "campaign_id"]).any()
    known = set(customers["customer_id"])
    for name in ("orders", "events", "support_tickets", "offers", "truth_customers"):
        assert set(tables[name]["customer_id"]) <= known, name
    assert set(tables["truth_probabilities"]["customer_id"]) <= known


def test_every_timestamp_lies_within_the_span(
    world: World, tables: dict[str, pd.DataFrame]
) -> None:
    start = pd.Timestamp(world.config.start_date)
    end = pd.Timestamp(world.config.end_date) + pd.Timedelta(days=1)
    for table, columns in TIMESTAMP_COLUMNS.items():
        for column in columns:
            values = tables[table][column].dropna()
            assert values.min() >= start and values.max() < end, (table, column)
    signup = pd.to_datetime(tables["customers"]["signup_date"])
    assert signup.min() >= start and signup.max() < end


def test_nothing_happens_before_sign_up(tables: dict[str, pd.DataFrame]) -> None:
    signup = tables["customers"].set_index("customer_id")["signup_date"].map(pd.Timestamp)
    for table, column in (("orders", "order_ts"), ("events", "ts"), ("offers", "sent_ts")):
        frame = tables[table]
        assert (frame[column] >= frame["customer_id"].map(signup)).all(), table


def test_orders_are_plausible(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"]
    assert (orders["amount"] >= 0).all()
    assert (orders["discount_amount"] >= 0).all()
    assert (orders["n_items"] >= 1).all()
    assert set(orders["status"]) == {"completed", "returned", "cancelled"}
    assert set(orders["channel"]) == {"web", "app"}
    assert 0.85 < (orders["status"] == "completed").mean() < 0.95
    assert 20 < orders["amount"].median() < 80


def test_tickets_are_answered_after_they_are_opened(tables: dict[str, pd.DataFrame]) -> None:
    tickets = tables["support_tickets"]
    responded = tickets.dropna(subset=["first_response_ts"])
    assert (responded["first_response_ts"] >= responded["opened_ts"]).all()
    resolved = tickets.dropna(subset=["resolved_ts"])
    assert (resolved["resolved_ts"] >= resolved["first_response_ts"]).all()
    csat = tickets["csat"].dropna()
    assert csat.between(1, 5).all() and set(csat) == {1, 2, 3, 4, 5}
    assert tickets.loc[tickets["resolved_ts"].isna(), "csat"].isna().all()


def test_events_use_the_contract_vocabulary_and_values(tables: dict[str, pd.DataFrame]) -> None:
    events = tables["events"]
    assert set(events["event_type"]) == set(EVENT_TYPES)
    nps = events.loc[events["event_type"] == "survey_nps", "value"]
    assert nps.between(0, 10).all() and (nps % 1 == 0).all()
    assert nps.min() <= 2 and nps.max() == 10
    points = events.loc[events["event_type"].isin(["loyalty_earn", "loyalty_redeem"]), "value"]
    assert (points >= 0).all()
    others = events.loc[
        ~events["event_type"].isin(["survey_nps", "loyalty_earn", "loyalty_redeem"])
    ]
    assert others["value"].isna().all()
    per_customer = len(events) / len(tables["customers"])
    assert 30 < per_customer < 75


def test_offers_log_is_a_randomised_experiment(
    world: World, tables: dict[str, pd.DataFrame]
) -> None:
    offers = tables["offers"]
    assert set(offers["offer_id"]) == {offer.id for offer in world.config.offers}
    assert set(offers["group"]) == {"treatment", "control"}
    control_share = (offers["group"] == "control").mean()
    assert control_share == pytest.approx(world.config.campaigns.control_share, abs=0.03)
    assert offers.loc[offers["group"] == "control", "redeemed_ts"].isna().all()
    redeemed = offers.dropna(subset=["redeemed_ts"])
    assert len(redeemed) > 100
    assert (redeemed["redeemed_ts"] > redeemed["sent_ts"]).all()
    within = redeemed["redeemed_ts"] - redeemed["sent_ts"]
    assert within.max() <= pd.Timedelta(days=world.config.campaigns.redeem_within_days)


def test_a_redemption_is_an_order_carrying_the_offer(tables: dict[str, pd.DataFrame]) -> None:
    redeemed = tables["offers"].dropna(subset=["redeemed_ts"])
    orders = tables["orders"].merge(
        redeemed[["customer_id", "redeemed_ts", "offer_id"]],
        left_on=["customer_id", "order_ts"],
        right_on=["customer_id", "redeemed_ts"],
    )
    assert len(orders) == len(redeemed)
    discounted = orders[orders["offer_id"].isin(["discount_10", "free_shipping"])]
    assert (discounted["discount_amount"] > 0).all()


def test_rows_are_sorted_by_customer_then_time(tables: dict[str, pd.DataFrame]) -> None:
    orders = tables["orders"]
    keys = list(zip(orders["customer_id"], orders["order_ts"], strict=True))
    assert keys == sorted(keys)
    first_orders = orders.groupby("customer_id")["order_id"].first()
    assert first_orders.str.endswith("-0001").all()
    assert np.all(np.diff(tables["customers"]["customer_id"].str[1:].astype(int)) == 1)
