"""Entry point of ``churn generate``: the synthetic online retailer and its ground truth.

``generate_world`` splits the customers into chunks of ``chunk_customers``, simulates them in
``n_jobs`` worker processes (``synthetic.chunk``), and writes

* ``raw_dir/<table>/part-NNNNN.parquet`` for ``customers``, ``orders``, ``events``,
  ``support_tickets`` and ``offers`` — the CRM export (see ``docs/data-contract.md``);
* ``truth_dir/customers/part-NNNNN.parquet`` (latent traits, churn time, offer effects) and
  ``truth_dir/churn_probabilities/part-NNNNN.parquet`` (true churn probabilities per customer and
  cutoff), plus ``truth_dir/README.md`` describing them.

Both folders are built in temporary siblings and swapped in only when everything succeeded, so a
failure never leaves half a world behind (an existing world stays as it was). The same seed and
params give byte-identical files whatever ``n_jobs`` is.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from core.atomic import atomic_dir
from core.config import GenerateConfig
from core.logging import get_logger
from core.progress import track
from synthetic.chunk import RAW_TABLES, TRUTH_TABLES, ChunkJob, ChunkStats, generate_chunk
from synthetic.readme import truth_readme
from synthetic.timeline import cutoff_dates

_log = get_logger(__name__)


def generate_world(
    config: GenerateConfig, seed: int, raw_dir: Path, truth_dir: Path
) -> dict[str, Any]:
    """Generate the world into ``raw_dir`` and its truth into ``truth_dir``; return a summary.

    The summary (JSON-able) holds rows per table, the realised ``horizon_days`` churn base rate
    among customers alive at a cutoff (and the mean true probability for the same rows), whether
    that rate lies inside ``churn_rate_bounds``, and the wall-clock seconds.
    """
    started = time.perf_counter()
    raw_dir, truth_dir = Path(raw_dir), Path(truth_dir)
    with atomic_dir(raw_dir) as raw_tmp, atomic_dir(truth_dir) as truth_tmp:
        jobs = plan_chunks(config, seed, raw_tmp, truth_tmp)
        for folder, tables in ((raw_tmp, RAW_TABLES), (truth_tmp, TRUTH_TABLES)):
            for table in tables:
                (folder / table).mkdir()
        stats = sorted(
            track(_run_chunks(jobs, config.n_jobs), total=len(jobs), description="generate"),
            key=lambda chunk: chunk.index,
        )
        (truth_tmp / "README.md").write_text(truth_readme(config), encoding="utf-8")
    summary = _summarise(stats, config, time.perf_counter() - started)
    if not summary["churn_rate_within_bounds"]:
        _log.warning(
            "churn base rate outside churn_rate_bounds",
            churn_base_rate=summary["churn_base_rate"],
            churn_rate_bounds=summary["churn_rate_bounds"],
        )
    return summary


def plan_chunks(
    config: GenerateConfig, seed: int, raw_dir: Path, truth_dir: Path
) -> list[ChunkJob]:
    """Consecutive customer ranges of ``chunk_customers`` (the last one may be smaller)."""
    return [
        ChunkJob(
            index=index,
            first_customer=first,
            n_customers=min(config.chunk_customers, config.n_customers - first),
            seed=seed,
            config=config,
            raw_dir=raw_dir,
            truth_dir=truth_dir,
        )
        for index, first in enumerate(range(0, config.n_customers, config.chunk_customers))
    ]


def _run_chunks(jobs: list[ChunkJob], n_jobs: int) -> Iterator[ChunkStats]:
    """Yield chunk results as they finish: in this process for one job, else in a pool.

    Workers are spawned (not forked) so they never inherit a parent's threads or locks. On the
    first failure the chunks not yet started are cancelled and the error propagates.
    """
    n_workers = min(n_jobs, len(jobs))
    if n_workers <= 1:
        yield from map(generate_chunk, jobs)
        return
    executor = ProcessPoolExecutor(n_workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending: set[Future[ChunkStats]] = {executor.submit(generate_chunk, job) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _summarise(stats: list[ChunkStats], config: GenerateConfig, seconds: float) -> dict[str, Any]:
    raw_rows = {table: sum(chunk.rows[table] for chunk in stats) for table in RAW_TABLES}
    truth_rows = {table: sum(chunk.truth_rows[table] for chunk in stats) for table in TRUTH_TABLES}
    labelled = sum(chunk.labelled_rows for chunk in stats)
    base_rate = sum(chunk.churned_labelled for chunk in stats) / labelled if labelled else None
    mean_p = sum(chunk.p_no_offer_labelled for chunk in stats) / labelled if labelled else None
    low, high = config.churn_rate_bounds
    return {
        "n_customers": config.n_customers,
        "n_chunks": len(stats),
        "rows": raw_rows,
        "truth_rows": truth_rows,
        "n_cutoffs": len(cutoff_dates(config)),
        "horizon_days": config.truth.horizon_days,
        "churn_base_rate": base_rate,
        "mean_true_p_churn_no_offer": mean_p,
        "churn_rate_bounds": [low, high],
        "churn_rate_within_bounds": base_rate is not None and low <= base_rate <= high,
        "churned_customers_share": sum(chunk.churned_customers for chunk in stats)
        / config.n_customers,
        "seconds": round(seconds, 2),
    }
