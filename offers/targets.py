"""The campaign's target list: budgeted allocation, control hold-out, reasons, CRM import rows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from core.config import OffersConfig
from models.reasons import REASON_SEPARATOR
from offers.allocation import NO_OFFER, allocate, control_group
from offers.policy import BEST_OFFER, GainTable, best_allowed

CAMPAIGN = "campaign"
"""``decision`` of a picked row (treatment or control)."""
NOT_REACHED = "budget_or_capacity"
"""``decision`` of a row with an allowed offer of positive expected gain that the budget or the
offers' capacities did not reach."""

TARGET_COLUMNS = (
    "customer_id",
    "campaign_id",
    "offer_id",
    "group",
    "decision",
    "expected_gain",
    "churn_probability",
    "uplift",
    "value",
    "cost",
    "reason_texts",
)


class ReasonsError(ValueError):
    """The explain stage's reasons file lacks the columns the CRM import needs."""


def allocate_campaign(table: GainTable, config: OffersConfig) -> np.ndarray:
    """Offer index per row (``NO_OFFER`` = none) under the budget and each offer's capacity."""
    return allocate(
        table.gain,
        table.allowed,
        [offer.unit_cost for offer in config.catalog],
        [offer.capacity for offer in config.catalog],
        config.budget,
        config.solver_time_limit_s,
    )


def target_frame(
    customer_ids: pd.Series,
    churn_probability: np.ndarray,
    table: GainTable,
    choice: np.ndarray,
    config: OffersConfig,
) -> pd.DataFrame:
    """One row per customer: chosen offer, treatment/control/none, why (``decision``: the
    campaign picked it, or the reason there is no offer), expected gain and inputs.

    Control rows keep the offer they would have received (as in the offers log) so the campaign
    report can compare like with like; they are not sent anything.
    """
    rows = np.arange(len(choice))
    picked = choice != NO_OFFER
    safe = np.where(picked, choice, 0)
    catalog = np.array([offer.id for offer in config.catalog], dtype=object)
    costs = np.array([offer.unit_cost for offer in config.catalog])
    held_out = control_group(customer_ids, config.campaign_id, config.salt, config.control_share)
    group = np.where(picked, np.where(held_out, "control", "treatment"), "none")
    # why a row got no offer, so the CRM can tell "unsubscribed" from "not reached this time"
    verdict = best_allowed(table)[2]
    decision = np.where(picked, CAMPAIGN, np.where(verdict == BEST_OFFER, NOT_REACHED, verdict))
    return pd.DataFrame(
        {
            "customer_id": customer_ids.astype(str).to_numpy(),
            "campaign_id": config.campaign_id,
            "offer_id": np.where(picked, catalog[safe], None),
            "group": group,
            "decision": decision.astype(object),
            "expected_gain": np.where(picked, table.gain[rows, safe], 0.0),
            "churn_probability": np.asarray(churn_probability, dtype=float),
            "uplift": np.where(picked, table.uplift[rows, safe], 0.0),
            "value": table.value,
            "cost": np.where(picked, costs[safe], 0.0),
        }
    )


def attach_reasons(targets: pd.DataFrame, reasons: pd.DataFrame | None) -> pd.DataFrame:
    """Add ``reason_texts`` (top reasons joined by " | ") from the explain stage's file.

    ``reasons`` needs ``customer_id`` and ``reason_texts`` (a list of strings or a JSON list);
    None leaves the column empty (development without the explain stage only).
    """
    result = targets.copy()
    if reasons is None:
        result["reason_texts"] = ""
        return result[list(TARGET_COLUMNS)]
    missing = [c for c in ("customer_id", "reason_texts") if c not in reasons.columns]
    if missing:
        raise ReasonsError(
            f"snapshot reasons ({len(reasons)} rows) lack column(s) {missing}; expected "
            "customer_id and reason_texts from `churn explain`"
        )
    texts = reasons.set_index(reasons["customer_id"].astype(str))["reason_texts"].map(_joined)
    result["reason_texts"] = result["customer_id"].map(texts).fillna("")
    return result[list(TARGET_COLUMNS)]


def _joined(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, str):
        return value
    return REASON_SEPARATOR.join(str(item) for item in value)


CRM_DECIMALS = {"expected_gain": 2, "value": 2, "cost": 2, "churn_probability": 4, "uplift": 4}
"""Decimals of the CRM file's numbers: money to the cent, probabilities to a hundredth of a
point (``targets.parquet`` keeps full precision). Seventeen digits told a CRM user nothing."""


def crm_import(targets: pd.DataFrame) -> pd.DataFrame:
    """The CSV rows for the CRM: empty offer id for none, numbers as text with a fixed number of
    decimals (:data:`CRM_DECIMALS`: ``185.00``, not ``185.0`` beside ``10.01``)."""
    frame = targets.copy()
    frame["offer_id"] = frame["offer_id"].fillna("")
    for name, places in CRM_DECIMALS.items():
        if name in frame.columns:
            frame[name] = [
                "" if pd.isna(value) else f"{float(value) + 0.0:.{places}f}"
                for value in frame[name]
            ]
    return frame
