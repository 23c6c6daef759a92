from __future__ import annotations

import datetime as dt

import pandas as pd
from structlog.testing import capture_logs

from offers.campaigns import campaign_rows, in_catalogue, split_campaigns


def _log() -> pd.DataFrame:
    sent = pd.Timestamp("2024-03-01 10:00")
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "campaign_id": "CMP-1",
            "offer_id": ["kept", "retired", "retired", "kept"],
            "sent_ts": [sent, sent, sent, sent + pd.Timedelta(hours=1)],
            "group": ["treatment", "treatment", "control", "control"],
            "redeemed_ts": [sent + pd.Timedelta(days=3), pd.NaT, pd.NaT, pd.NaT],
        }
    )


def _features() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "cutoff_date": pd.Timestamp("2024-03-01"),
            "rfm_orders_365d": [3, 1, 2, 5],
            "churned": [0, 1, 1, 0],
        }
    )


def test_campaign_rows_carry_treatment_redemption_and_point_in_time_features() -> None:
    rows = campaign_rows(_log(), _features())
    assert rows["customer_id"].tolist() == ["A", "B", "C", "D"]
    # control rows were sent nothing, whatever offer the log says they would have had
    assert rows["treatment_offer"].isna().tolist() == [False, False, True, True]
    assert rows["treatment_offer"][:2].tolist() == ["kept", "retired"]
    assert rows["redeemed"].tolist() == [True, False, False, False]
    assert rows["rfm_orders_365d"].tolist() == [3, 1, 2, 5]


def test_rows_treated_with_an_offer_missing_from_the_catalogue_are_left_out() -> None:
    rows = campaign_rows(_log(), _features())
    with capture_logs() as logs:
        kept = in_catalogue(rows, ["kept"])
    # B got the retired offer: neither a control nor a treated row of a known offer. C's log
    # row names the retired offer too, but C was held out: a control for every offer.
    assert kept["customer_id"].tolist() == ["A", "C", "D"]
    assert [(log["rows"], log["offers"]) for log in logs] == [(1, ["retired"])]
    with capture_logs() as logs:
        assert len(in_catalogue(rows, ["kept", "retired"])) == 4
    assert logs == []


def test_fit_rows_whose_window_reaches_a_held_out_campaign_of_their_customer_are_left_out() -> None:
    day = dt.date(2024, 1, 1)
    sends = {
        "CMP-A": day,
        "CMP-B": day + dt.timedelta(days=60),
        "CMP-C": day + dt.timedelta(days=200),
    }
    rows = pd.DataFrame(
        [
            {"campaign_id": campaign, "cutoff_date": sent, "customer_id": customer}
            for campaign, sent in sends.items()
            for customer in ("shared", f"only-{campaign}")
        ]
    )

    split = split_campaigns(rows, day + dt.timedelta(days=400), 90, holdout=2)

    assert split.fit_campaigns == ["CMP-A"] and split.holdout_campaigns == ["CMP-B", "CMP-C"]
    # CMP-A's 90-day window ends after CMP-B's send: its row for a customer CMP-B reached goes
    assert split.fit["customer_id"].tolist() == ["only-CMP-A"]
    assert len(split.holdout) == 4
    assert len(split.observed) == 6  # the final policy still fits every observed row
