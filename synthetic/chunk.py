"""Generate and write one chunk of customers: the unit of work a worker process runs.

A chunk's random numbers come only from ``SeedSequence(seed).spawn(n_chunks)[index]`` (built
directly as ``SeedSequence(seed, spawn_key=(index,))``), and it writes only its own part files,
so the output is the same whichever process runs it and in whatever order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.config import GenerateConfig
from synthetic.campaigns import campaign_schedule
from synthetic.simulate import simulate_chunk
from synthetic.tables import (
    churn_probabilities_table,
    customer_numbers,
    customers_table,
    events_table,
    offers_table,
    orders_table,
    tickets_table,
    truth_customers_table,
)
from synthetic.timeline import Timeline, cutoff_dates, date_to_us
from synthetic.traits import draw_traits
from synthetic.truth import cutoff_truth

RAW_TABLES = ("customers", "orders", "events", "support_tickets", "offers")
TRUTH_TABLES = ("customers", "churn_probabilities")


@dataclass(frozen=True)
class ChunkJob:
    """Customers ``first_customer`` to ``first_customer + n_customers - 1`` (0-based)."""

    index: int
    first_customer: int
    n_customers: int
    seed: int
    config: GenerateConfig
    raw_dir: Path
    truth_dir: Path


@dataclass(frozen=True)
class ChunkStats:
    """Counts a chunk reports back for the run summary.

    ``labelled_rows`` are truth rows whose horizon ends inside the data; ``churned_labelled`` of
    them churned, and ``p_no_offer_labelled`` sums their true no-offer probability.
    """

    index: int
    rows: dict[str, int]
    truth_rows: dict[str, int]
    churned_customers: int
    labelled_rows: int
    churned_labelled: int
    p_no_offer_labelled: float


def part_path(folder: Path, table: str, index: int) -> Path:
    return folder / table / f"part-{index:05d}.parquet"


def write_part(table: pa.Table, path: Path) -> None:
    """Parquet with fixed settings, so the same table always gives the same bytes."""
    pq.write_table(table, path, compression="zstd", compression_level=3, write_statistics=True)


def generate_chunk(job: ChunkJob) -> ChunkStats:
    """Simulate the chunk, compute its truth and write every table's part for it."""
    config = job.config
    rng = np.random.default_rng(np.random.SeedSequence(job.seed, spawn_key=(job.index,)))
    timeline = Timeline.from_config(config)
    cutoffs_us = [date_to_us(day) for day in cutoff_dates(config)]
    traits = draw_traits(rng, job.n_customers, config, timeline)
    history = simulate_chunk(rng, traits, config, timeline, cutoffs_us)
    truths = [
        cutoff_truth(snapshot, traits, history.churn_us, history.offer_effects, config, timeline)
        for snapshot in history.snapshots
    ]
    numbers = customer_numbers(job.first_customer, job.n_customers, config.n_customers)
    campaign_ids = [campaign.campaign_id for campaign in campaign_schedule(config, timeline)]
    rows = history.rows
    raw_tables = {
        "customers": customers_table(numbers, traits, config),
        "orders": orders_table(numbers, rows.orders.finish()),
        "events": events_table(numbers, rows.events.finish()),
        "support_tickets": tickets_table(numbers, rows.tickets.finish()),
        "offers": offers_table(
            numbers, rows.offers.finish(), rows.redemptions.finish(), campaign_ids, config
        ),
    }
    for name, table in raw_tables.items():
        write_part(table, part_path(job.raw_dir, name, job.index))
    truth_tables = {
        "customers": truth_customers_table(
            numbers, traits, history.churn_us, history.offer_effects, config
        ),
        "churn_probabilities": churn_probabilities_table(numbers, truths, config),
    }
    for name, table in truth_tables.items():
        write_part(table, part_path(job.truth_dir, name, job.index))
    labelled = [truth for truth in truths if truth.outcome_known]
    return ChunkStats(
        index=job.index,
        rows={name: table.num_rows for name, table in raw_tables.items()},
        truth_rows={name: table.num_rows for name, table in truth_tables.items()},
        churned_customers=int(np.sum(history.churn_us < timeline.end_us)),
        labelled_rows=sum(len(truth.customers) for truth in labelled),
        churned_labelled=sum(int(truth.churned_within_horizon.sum()) for truth in labelled),
        p_no_offer_labelled=float(sum(truth.p_no_offer.sum() for truth in labelled)),
    )
