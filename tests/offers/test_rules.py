from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offers.rules import RuleInputError, contact_block, eligibility_matrix, offer_eligible
from tests.offers.frames import CATALOG, offers_config, rule_rows


def _row(**values: object) -> pd.DataFrame:
    base = {
        "lifecycle_days_since_signup": 200.0,
        "loyalty_member": 1,
        "static_country": "DE",
        "events_days_since_email_unsubscribe": np.nan,
        "offers_days_since_last_offer": np.nan,
        "offers_received_365d": 0,
    }
    return pd.DataFrame([base | values])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, ""),
        ({"events_days_since_email_unsubscribe": 300.0}, "contact_rule:unsubscribed"),
        ({"offers_days_since_last_offer": 29.9}, "contact_rule:cooldown"),
        ({"offers_days_since_last_offer": 30.0}, ""),
        ({"offers_received_365d": 3}, "contact_rule:cap"),
        ({"offers_received_365d": 2}, ""),
    ],
)
def test_contact_rules(values: dict[str, object], expected: str) -> None:
    assert contact_block(_row(**values), offers_config()).tolist() == [expected]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, [True, True, True]),
        ({"loyalty_member": 0}, [True, False, True]),
        ({"static_country": "FR"}, [True, True, False]),
        ({"lifecycle_days_since_signup": 99.0}, [True, True, False]),
        ({"lifecycle_days_since_signup": 100.0}, [True, True, True]),  # exactly the minimum
        ({"lifecycle_days_since_signup": np.nan}, [False, False, False]),
    ],
)
def test_offer_eligibility(values: dict[str, object], expected: list[bool]) -> None:
    assert [bool(offer_eligible(_row(**values), offer)[0]) for offer in CATALOG] == expected


def test_a_blocked_customer_may_receive_no_offer_at_all() -> None:
    rows = rule_rows(500)
    allowed = eligibility_matrix(rows, CATALOG, offers_config())
    blocked = contact_block(rows, offers_config()) != ""
    assert blocked.any() and not allowed[blocked.to_numpy()].any()
    assert allowed[~blocked.to_numpy()].any()


def test_missing_rule_column_is_named() -> None:
    with pytest.raises(RuleInputError, match="offers_received_365d"):
        contact_block(_row().drop(columns="offers_received_365d"), offers_config())
