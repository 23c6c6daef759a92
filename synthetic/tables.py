"""Turn one chunk's numpy columns into the Arrow tables of the raw data contract and the truth.

Types follow the contract: ids are strings, timestamps naive ``timestamp[us]`` meaning UTC, dates
``date32``. Ids are built with Arrow kernels (no per-row Python): customers ``C<number>``, orders
``O<customer number>-<nnnn>`` and tickets ``T<customer number>-<nnnn>`` numbered in time order
per customer, so every id is unique across chunks. Rows are sorted by customer, then time.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.config import GenerateConfig
from synthetic.rows import EVENT_TYPES, NULL_US, ORDER_CHANNELS, ORDER_STATUSES, TICKET_CHANNELS
from synthetic.state import NEVER_US
from synthetic.timeline import DAY_US
from synthetic.traits import LATENT_TRAITS, PLANS, Traits
from synthetic.truth import NOT_KNOWN, CutoffTruth

_ID_DIGITS = 7
_SEQUENCE_DIGITS = 4


def customer_numbers(first_customer: int, n_customers: int, total_customers: int) -> pa.Array:
    """Zero-padded customer numbers (1-based) of one chunk, e.g. ``0000001``."""
    width = max(_ID_DIGITS, len(str(total_customers)))
    return pa.array(
        [
            f"{number:0{width}d}"
            for number in range(first_customer + 1, first_customer + n_customers + 1)
        ],
        type=pa.string(),
    )


def customers_table(numbers: pa.Array, traits: Traits, config: GenerateConfig) -> pa.Table:
    return pa.table(
        {
            "customer_id": _prefixed("C", numbers),
            "signup_date": pa.array((traits.signup_us // DAY_US).astype("datetime64[D]")),
            "country": _labels(list(config.countries), traits.country),
            "acquisition_channel": _labels(
                list(config.acquisition_channels), traits.acquisition_channel
            ),
            "plan": _labels(PLANS, traits.plan),
            "loyalty_member": pa.array(traits.loyalty_member),
        }
    )


def orders_table(numbers: pa.Array, orders: dict[str, np.ndarray]) -> pa.Table:
    order = np.lexsort((orders["ts"], orders["customer"]))
    customer = orders["customer"][order]
    return pa.table(
        {
            "order_id": _sequence_ids("O", numbers, customer),
            "customer_id": _prefixed("C", numbers.take(customer)),
            "order_ts": _timestamps(orders["ts"][order]),
            "amount": pa.array(orders["amount"][order]),
            "n_items": pa.array(orders["n_items"][order]),
            "discount_amount": pa.array(orders["discount"][order]),
            "channel": _labels(ORDER_CHANNELS, orders["channel"][order]),
            "status": _labels(ORDER_STATUSES, orders["status"][order]),
        }
    )


def events_table(numbers: pa.Array, events: dict[str, np.ndarray]) -> pa.Table:
    order = np.lexsort((events["event"], events["ts"], events["customer"]))
    value = events["value"][order]
    return pa.table(
        {
            "customer_id": _prefixed("C", numbers.take(events["customer"][order])),
            "ts": _timestamps(events["ts"][order]),
            "event_type": _labels(EVENT_TYPES, events["event"][order]),
            "value": pa.array(value, mask=np.isnan(value)),
        }
    )


def tickets_table(numbers: pa.Array, tickets: dict[str, np.ndarray]) -> pa.Table:
    order = np.lexsort((tickets["opened"], tickets["customer"]))
    customer = tickets["customer"][order]
    csat = tickets["csat"][order]
    return pa.table(
        {
            "ticket_id": _sequence_ids("T", numbers, customer),
            "customer_id": _prefixed("C", numbers.take(customer)),
            "opened_ts": _timestamps(tickets["opened"][order]),
            "first_response_ts": _timestamps(tickets["first_response"][order]),
            "resolved_ts": _timestamps(tickets["resolved"][order]),
            "channel": _labels(TICKET_CHANNELS, tickets["channel"][order]),
            "csat": pa.array(np.nan_to_num(csat).astype(np.int32), mask=np.isnan(csat)),
        }
    )


def offers_table(
    numbers: pa.Array,
    offers: dict[str, np.ndarray],
    redemptions: dict[str, np.ndarray],
    campaign_ids: list[str],
    config: GenerateConfig,
) -> pa.Table:
    """Rows stay in send order (campaign, then customer)."""
    redeemed = np.full(len(offers["customer"]), NULL_US, dtype=np.int64)
    redeemed[redemptions["offer_row"]] = redemptions["redeemed"]
    return pa.table(
        {
            "customer_id": _prefixed("C", numbers.take(offers["customer"])),
            "campaign_id": _labels(campaign_ids, offers["campaign"]),
            "offer_id": _labels([offer.id for offer in config.offers], offers["offer"]),
            "sent_ts": _timestamps(offers["sent"]),
            "group": _labels(("control", "treatment"), offers["treatment"].astype(np.int8)),
            "redeemed_ts": _timestamps(redeemed),
        }
    )


def truth_customers_table(
    numbers: pa.Array,
    traits: Traits,
    churn_us: np.ndarray,
    offer_effects: np.ndarray,
    config: GenerateConfig,
) -> pa.Table:
    columns: dict[str, pa.Array] = {"customer_id": _prefixed("C", numbers)}
    for name in LATENT_TRAITS:
        columns[name] = pa.array(getattr(traits, name).astype(np.float64))
    columns["churn_ts"] = _timestamps(np.where(churn_us == NEVER_US, NULL_US, churn_us))
    for column, offer in enumerate(config.offers):
        columns[f"offer_effect_{offer.id}"] = pa.array(offer_effects[:, column])
    return pa.table(columns)


def churn_probabilities_table(
    numbers: pa.Array, cutoffs: list[CutoffTruth], config: GenerateConfig
) -> pa.Table:
    customers = np.concatenate([cutoff.customers for cutoff in cutoffs])
    cutoff_days = np.concatenate(
        [np.full(len(cutoff.customers), cutoff.cutoff_us // DAY_US) for cutoff in cutoffs]
    )
    churned = np.concatenate([cutoff.churned_within_horizon for cutoff in cutoffs])
    p_offer = np.concatenate([cutoff.p_offer for cutoff in cutoffs])
    order = np.lexsort((cutoff_days, customers))
    columns: dict[str, pa.Array] = {
        "customer_id": _prefixed("C", numbers.take(customers[order])),
        "cutoff_date": pa.array(cutoff_days[order].astype("datetime64[D]")),
        "p_churn_no_offer": pa.array(np.concatenate([c.p_no_offer for c in cutoffs])[order]),
    }
    for column, offer in enumerate(config.offers):
        columns[f"p_churn_{offer.id}"] = pa.array(p_offer[order, column])
    columns["churned_within_horizon"] = pa.array(
        churned[order] == 1, mask=churned[order] == NOT_KNOWN
    )
    return pa.table(columns)


def _prefixed(prefix: str, numbers: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(prefix, numbers, "")


def _sequence_ids(prefix: str, numbers: pa.Array, sorted_customers: np.ndarray) -> pa.Array:
    """``<prefix><customer number>-<n>``, n counting each customer's rows from 1 in row order."""
    n_rows = len(sorted_customers)
    if n_rows == 0:
        return pa.array([], type=pa.string())
    starts = np.flatnonzero(np.r_[True, sorted_customers[1:] != sorted_customers[:-1]])
    run_lengths = np.diff(np.r_[starts, n_rows])
    sequence = np.arange(1, n_rows + 1) - np.repeat(starts, run_lengths)
    padded = pc.utf8_lpad(pc.cast(pa.array(sequence), pa.string()), _SEQUENCE_DIGITS, "0")
    return pc.binary_join_element_wise(prefix, numbers.take(sorted_customers), "-", padded, "")


def _labels(names: list[str] | tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(list(names), type=pa.string()).take(pa.array(codes.astype(np.int32)))


def _timestamps(values_us: np.ndarray) -> pa.Array:
    return pa.array(values_us.astype(np.int64).view("datetime64[us]"), mask=values_us == NULL_US)
