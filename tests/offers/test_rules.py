from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offers.rules import (
    COUNTRY,
    DAYS_SINCE_OFFER,
    MEMBER,
    OFFERS_365D,
    UNSUBSCRIBED,
    RuleInputError,
    contact_block,
    eligibility_matrix,
    offer_eligible,
    with_absent_history,
)
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
        ({"offers_received_365d": 3, "offers_days_since_last_offer": 100.0}, "contact_rule:cap"),
        ({"offers_received_365d": 2, "offers_days_since_last_offer": 100.0}, ""),
        # A request may say "no unsubscribe" (null days) while its counts say otherwise, or send
        # no last offer with offers in the year: an unknown never reads as permission to contact.
        ({"engagement_email_unsubscribes_365d": 2}, "contact_rule:unsubscribed"),
        ({"events_count_30d_email_unsubscribe": 1.0}, "contact_rule:unsubscribed"),
        ({"events_count_365d_email_unsubscribe": np.nan}, ""),
        ({"events_count_90d_email_unsubscribe": 0}, ""),
        ({"offers_received_365d": 2}, "contact_rule:cooldown"),
        ({"offers_received_365d": 1}, "contact_rule:cooldown"),  # a single offer is enough
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
        ({"loyalty_member": None}, [True, False, True]),  # unknown membership is no membership
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


def test_a_null_offer_count_reads_as_none_sent_and_cannot_escape_the_cap() -> None:
    """With a cap of 0 nobody may be contacted: a null count must not read as below it."""
    rows = pd.concat([_row(), _row(offers_received_365d=None)], ignore_index=True)

    blocked = contact_block(rows, offers_config(max_offers_365d=0))

    assert blocked.tolist() == ["contact_rule:cap", "contact_rule:cap"]
    assert contact_block(rows, offers_config()).tolist() == ["", ""]


def test_an_empty_catalogue_gives_a_matrix_with_no_offer_columns() -> None:
    allowed = eligibility_matrix(rule_rows(7), [], offers_config(catalog=[]))

    assert allowed.shape == (7, 0) and allowed.dtype == bool


def test_missing_rule_column_is_named() -> None:
    with pytest.raises(RuleInputError, match="offers_received_365d"):
        contact_block(_row().drop(columns="offers_received_365d"), offers_config())


def test_contact_rules_need_only_the_columns_they_read() -> None:
    """The tenure is an eligibility rule's input, not a contact rule's."""
    rows = _row(offers_received_365d=3, offers_days_since_last_offer=100.0)
    rows = rows.drop(columns="lifecycle_days_since_signup")
    assert contact_block(rows, offers_config()).tolist() == ["contact_rule:cap"]


def test_an_absent_table_reads_as_no_history_and_a_present_column_is_kept() -> None:
    """No offers table: nobody was ever sent an offer, so nobody is in a cooldown or over the
    cap; no events table: nobody unsubscribed. The rules then block only on what is known."""
    rows = rule_rows(300)
    bare = rows.drop(columns=[DAYS_SINCE_OFFER, OFFERS_365D, UNSUBSCRIBED, MEMBER])

    filled = with_absent_history(bare, ["offers", "events"])

    assert filled[DAYS_SINCE_OFFER].isna().all() and filled[UNSUBSCRIBED].isna().all()
    assert (filled[OFFERS_365D] == 0).all() and (filled[MEMBER] == 0).all()
    assert (contact_block(filled, offers_config()) == "").all()
    members_only = [k for k, offer in enumerate(CATALOG) if offer.members_only]
    assert (
        members_only
        and not eligibility_matrix(filled, CATALOG, offers_config())[:, members_only].any()
    )
    # a column the export does have is never overwritten, and nothing absent means no copy
    kept = with_absent_history(rows.drop(columns=[UNSUBSCRIBED]), ["offers", "events"])
    pd.testing.assert_series_equal(kept[OFFERS_365D], rows[OFFERS_365D])
    assert with_absent_history(rows, ["offers"]) is rows


def test_an_event_type_the_export_never_logged_reads_as_no_such_event() -> None:
    """The events family makes columns only for the types it sees: a CRM that logged no
    unsubscribe has no unsubscribe column, and nobody unsubscribed."""
    rows = rule_rows(300)
    bare = rows.drop(columns=[UNSUBSCRIBED])

    filled = with_absent_history(bare, [], ["email_unsubscribe"])

    assert filled[UNSUBSCRIBED].isna().all()
    pd.testing.assert_series_equal(filled[OFFERS_365D], rows[OFFERS_365D])
    assert not contact_block(filled, offers_config()).eq("contact_rule:unsubscribed").any()
    with pytest.raises(RuleInputError, match=UNSUBSCRIBED):
        contact_block(with_absent_history(bare, []), offers_config())


def test_a_family_switched_off_while_its_table_exists_is_still_an_error() -> None:
    """Only an absent table means no history; a present one switched off would be ignored."""
    bare = rule_rows(10).drop(columns=[DAYS_SINCE_OFFER, OFFERS_365D])
    with pytest.raises(RuleInputError, match=DAYS_SINCE_OFFER):
        contact_block(with_absent_history(bare, ["events"]), offers_config())


def test_membership_and_country_are_needed_only_by_offers_restricted_by_them() -> None:
    """A ``customers`` table without ``country`` (optional) still gets offers open to all
    countries; only a catalogue that restricts by country needs the column, and says where it
    comes from."""
    rows = rule_rows(50).drop(columns=[MEMBER, COUNTRY])
    open_to_all = [CATALOG[0]]
    config = offers_config(catalog=[offer.model_dump() for offer in open_to_all])

    allowed = eligibility_matrix(rows, open_to_all, config)

    assert allowed.shape == (50, 1) and allowed.any()
    with pytest.raises(RuleInputError, match=r"static_country.*`country` column of customers"):
        eligibility_matrix(rows, CATALOG, offers_config())
