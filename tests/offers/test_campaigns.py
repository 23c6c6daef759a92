from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from structlog.testing import capture_logs

from offers.campaigns import (
    CampaignDataError,
    TooFewCampaignsError,
    campaign_rows,
    in_catalogue,
    send_dates,
    send_pairs,
    split_campaigns,
)


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


def _rows(sends: dict[str, dt.date], customers: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"campaign_id": campaign, "cutoff_date": sent, "customer_id": customer}
            for campaign, sent in sends.items()
            for customer in customers
        ]
    )


def test_only_campaigns_whose_horizon_ended_by_the_snapshot_are_observed() -> None:
    day = dt.date(2024, 1, 1)
    sends = {
        "CMP-A": day,
        "CMP-B": day + dt.timedelta(days=30),
        "CMP-C": day + dt.timedelta(days=60),  # its horizon ends on the snapshot date: observed
        "CMP-D": day + dt.timedelta(days=61),  # one day short of its outcome: not observed
    }
    rows = _rows(sends, ("X",)).iloc[::-1]  # in no particular order

    split = split_campaigns(rows, day + dt.timedelta(days=150), 90, holdout=1)

    assert split.fit_campaigns == ["CMP-A", "CMP-B"] and split.holdout_campaigns == ["CMP-C"]
    assert split.holdout["campaign_id"].tolist() == ["CMP-C"]
    assert sorted(split.observed["campaign_id"]) == ["CMP-A", "CMP-B", "CMP-C"]
    for part in (split.fit, split.holdout, split.observed):  # plain rows, nothing added
        assert list(part.columns) == list(rows.columns)
        assert part.index.tolist() == list(range(len(part)))


def test_no_more_observed_campaigns_than_the_holdout_is_too_few() -> None:
    day = dt.date(2024, 1, 1)
    rows = _rows({"CMP-A": day, "CMP-B": day + dt.timedelta(days=30)}, ("X",))

    with pytest.raises(TooFewCampaignsError, match=r"2 campaign\(s\) with an observed 90-day"):
        split_campaigns(rows, day + dt.timedelta(days=400), 90, holdout=2)
    assert split_campaigns(rows, day + dt.timedelta(days=400), 90, holdout=1).fit_campaigns == [
        "CMP-A"
    ]


def test_a_fit_window_ending_on_the_first_held_out_send_keeps_its_row() -> None:
    """The window ``[send, send + horizon)`` ends the day before the held-out send: no overlap."""
    day = dt.date(2024, 1, 1)
    sends = {"CMP-A": day, "CMP-B": day + dt.timedelta(days=90)}
    rows = _rows(sends, ("shared",))

    split = split_campaigns(rows, day + dt.timedelta(days=400), 90, holdout=1)

    assert split.fit["customer_id"].tolist() == ["shared"]
    assert len(split.observed) == 2


def test_send_pairs_are_each_reached_customer_once_at_the_campaigns_first_send_day() -> None:
    log = pd.concat([_log(), _log().iloc[[0]]], ignore_index=True)  # A sent CMP-1 twice

    pairs = send_pairs(log)

    assert list(pairs.columns) == ["customer_id", "cutoff_date"]
    assert pairs["customer_id"].tolist() == ["A", "B", "C", "D"]
    assert set(pairs["cutoff_date"]) == {dt.date(2024, 3, 1)}
    assert send_dates(log) == [dt.date(2024, 3, 1)]


def test_a_log_lacking_a_column_is_refused_naming_it() -> None:
    with pytest.raises(CampaignDataError, match=r"4 rows lack column\(s\) \['group'\]"):
        campaign_rows(_log().drop(columns="group"), _features())


def test_rows_outside_the_churn_population_at_the_send_are_dropped_and_none_left_is_refused() -> (
    None
):
    rows = campaign_rows(_log(), _features().iloc[[3, 1]])

    assert rows["customer_id"].tolist() == ["B", "D"]
    assert list(rows.columns) == [
        "customer_id",
        "campaign_id",
        "offer_id",
        "sent_ts",
        "group",
        "cutoff_date",
        "treatment_offer",
        "redeemed",
        "rfm_orders_365d",
        "churned",
    ]
    with pytest.raises(CampaignDataError, match="share no"):
        campaign_rows(_log(), _features().assign(cutoff_date=pd.Timestamp("2024-02-01")))


def test_leaving_out_unknown_offers_keeps_the_columns_and_renumbers_the_rows() -> None:
    rows = campaign_rows(_log(), _features())

    kept = in_catalogue(rows, ["kept"])

    assert list(kept.columns) == list(rows.columns)
    assert kept.index.tolist() == [0, 1, 2]
