"""Past campaigns as uplift training data: who was treated with what, and did they churn.

Each offers-log row is joined to the customer's point-in-time features at 00:00 UTC of the send
date (history strictly before the send) and to the churn label over the horizon from that day.
Control rows lose their would-be offer: they received nothing. Only campaigns whose horizon has
fully passed by the snapshot date carry an outcome; the latest ``holdout`` of those are kept for
evaluation (Qini/AUUC), the rest fit the models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.logging import get_logger

_log = get_logger(__name__)

LOG_COLUMNS = ("customer_id", "campaign_id", "offer_id", "sent_ts", "group")


class CampaignDataError(ValueError):
    """The offers log or campaign features cannot make uplift training data."""


class TooFewCampaignsError(CampaignDataError):
    """Too few campaigns with an observed outcome to fit learners and judge them on later ones:
    a young offers log, not a broken one."""


@dataclass(frozen=True)
class CampaignSplit:
    """Rows to fit and to hold out for judging learners, and every observed row (what the final
    policy is fitted on: no held-out judgement is made of it).

    ``observed`` is kept, not rebuilt from ``fit`` and ``holdout``: the fit rows lack customers
    the held-out campaigns also reached (:func:`split_campaigns`), and the policy needs them."""

    fit: pd.DataFrame
    holdout: pd.DataFrame
    fit_campaigns: list[str]
    holdout_campaigns: list[str]
    observed: pd.DataFrame


def send_dates(offers_log: pd.DataFrame) -> list[dt.date]:
    """The cutoff date of each campaign: the day of its first send."""
    return sorted(campaign_dates(offers_log).unique())


def campaign_dates(offers_log: pd.DataFrame) -> pd.Series:
    missing = [c for c in LOG_COLUMNS if c not in offers_log.columns]
    if missing:
        raise CampaignDataError(
            f"offers log: {len(offers_log)} rows lack column(s) {missing}; expected {LOG_COLUMNS}"
        )
    return offers_log.groupby("campaign_id")["sent_ts"].min().dt.date


SEND_PAIR_SCHEMA = {"customer_id": "string", "cutoff_date": "date"}


def send_pairs(offers_log: pd.DataFrame) -> pd.DataFrame:
    """Each customer a campaign reached, at the campaign's send date (``cutoff_date``): the only
    feature rows :func:`campaign_rows` keeps, so the only ones worth building (about a fifth
    of the customers x send dates)."""
    dates = campaign_dates(offers_log)
    pairs = pd.DataFrame(
        {
            "customer_id": offers_log["customer_id"].astype(str),
            "cutoff_date": offers_log["campaign_id"].map(dates),
        }
    )
    return pairs.drop_duplicates().reset_index(drop=True)


def campaign_rows(offers_log: pd.DataFrame, features_at_sends: pd.DataFrame) -> pd.DataFrame:
    """Offers-log rows with the features and label at the send date.

    Adds ``treatment_offer`` (the offer for treatment rows, None for control) and, when the log
    has ``redeemed_ts``, ``redeemed`` (a treated row's offer was redeemed). Rows whose
    customer is not in the churn population at the send date (no order in the lookback) are
    dropped: the label is undefined for them.
    """
    dates = campaign_dates(offers_log)
    log = offers_log[list(LOG_COLUMNS)].copy()
    log["cutoff_date"] = log["campaign_id"].map(dates)
    log["treatment_offer"] = log["offer_id"].where(log["group"] == "treatment", None)
    if "redeemed_ts" in offers_log.columns:
        log["redeemed"] = offers_log["redeemed_ts"].notna() & (log["group"] == "treatment")
    features = features_at_sends.copy()
    features["cutoff_date"] = pd.to_datetime(features["cutoff_date"]).dt.date
    joined = log.merge(features, on=["customer_id", "cutoff_date"], how="inner")
    if joined.empty:
        raise CampaignDataError(
            f"offers log ({len(log)} rows) and features at the send dates "
            f"({len(features)} rows) share no (customer_id, cutoff_date)"
        )
    return joined.sort_values(["cutoff_date", "customer_id"], kind="stable").reset_index(drop=True)


def in_catalogue(rows: pd.DataFrame, catalog: Sequence[str]) -> pd.DataFrame:
    """Campaign rows whose treatment the catalogue knows: every control row, and the rows treated
    with a catalogued offer.

    A row treated with an offer since retired from the catalogue is neither a control (it was
    sent something) nor a treated row of an offer the policy can send; kept, the hazard learners
    would count it as untreated. It is left out, with a warning naming the offers.
    """
    treated = rows["treatment_offer"].notna()
    unknown = treated & ~rows["treatment_offer"].isin(list(catalog))
    if unknown.any():
        _log.warning(
            "campaign rows left out: their offer is not in the catalogue",
            rows=int(unknown.sum()),
            of_rows=len(rows),
            offers=sorted(rows.loc[unknown, "treatment_offer"].unique()),
        )
    return rows[~unknown].reset_index(drop=True)


def split_campaigns(
    rows: pd.DataFrame, snapshot_date: dt.date, horizon_days: int, holdout: int
) -> CampaignSplit:
    """Observed campaigns (horizon passed by the snapshot) split by time: latest ``holdout``.

    Fit rows of customers the held-out campaigns reached are left out when their outcome window
    runs past the first held-out send (their label would include the held-out offer's effect).
    """
    horizon = dt.timedelta(days=horizon_days)
    observed = rows[rows["cutoff_date"].map(lambda day: day + horizon <= snapshot_date)]
    order = observed.groupby("campaign_id")["cutoff_date"].min().sort_values().index.tolist()
    if len(order) <= holdout:
        raise TooFewCampaignsError(
            f"offers log: {len(order)} campaign(s) with an observed {horizon_days}-day outcome "
            f"by {snapshot_date}, need more than holdout_campaigns={holdout}"
        )
    fit_ids, holdout_ids = order[:-holdout], order[-holdout:]
    held_out = observed[observed["campaign_id"].isin(holdout_ids)]
    fit = observed[observed["campaign_id"].isin(fit_ids)]
    # A fit row whose outcome window runs into the held-out campaigns, for a customer they
    # reached, has a label partly made of the held-out offer and outcome: leave it out of fitting.
    first_held_out = held_out["cutoff_date"].min()
    overlapping = fit["cutoff_date"].map(lambda day: day + horizon > first_held_out) & fit[
        "customer_id"
    ].isin(held_out["customer_id"])
    if overlapping.any():
        _log.info(
            "fit rows overlapping the held-out campaigns left out",
            rows=int(overlapping.sum()),
            first_held_out=str(first_held_out),
        )
    return CampaignSplit(
        fit=fit[~overlapping].reset_index(drop=True),
        holdout=held_out.reset_index(drop=True),
        fit_campaigns=fit_ids,
        holdout_campaigns=holdout_ids,
        observed=pd.concat([fit, held_out], ignore_index=True),
    )
