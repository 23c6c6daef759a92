"""``churn campaign-report CAMPAIGN_ID``: did an executed campaign work?

Reads the offers log, orders, subscriptions and customers of ``paths.raw_dir`` and writes, to
``data/campaigns/<CAMPAIGN_ID>/`` (next to ``paths.offers_dir``) or ``--out``:
``report.md`` (retention treatment vs control with 95% intervals, cost and net gain per offer
and per segment), ``lift.png`` and ``lift.csv`` (every table row).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from core.atomic import atomic_dir
from core.config import Config
from crm.tables import TableReadError
from features.build import SnapshotDateError, resolve_snapshot_date
from features.engine import connect
from features.labels import POPULATION_SOURCE
from features.sources import load_raw_tables
from offers.report import (
    CampaignReportError,
    ReportSettings,
    campaign_outcomes,
    lift_table,
    plot_lift,
    render_markdown,
    uncosted_offers,
)
from offers.value import ORDER_COLUMNS, SUBSCRIPTION_COLUMNS
from pipeline.errors import fail

SEGMENTS = ("country", "plan", "loyalty_member")


def run(config: Config, campaign_id: str, out: Path | None = None) -> dict[str, Any]:
    """Write the report folder; return the per-offer table as records."""
    try:
        folder_path = out if out is not None else _default_folder(config, campaign_id)
        _check_report_folder(folder_path, "--out" if out is not None else "the report folder")
        offers_log, outcome_tables, customers, data_end = _inputs(config)
        rows = campaign_outcomes(
            offers_log,
            outcome_tables["orders"],
            campaign_id,
            config.churn.horizon_days,
            data_end,
            subscriptions=outcome_tables["subscriptions"],
            definition=config.churn.definition,
        )
    except (CampaignReportError, TableReadError, SnapshotDateError) as error:
        fail(str(error))
    segments = [c for c in SEGMENTS if c in customers.columns]
    rows = rows.merge(customers[["customer_id", *segments]], on="customer_id", how="left")
    settings = ReportSettings(
        unit_costs={offer.id: offer.unit_cost for offer in config.offers.catalog},
        gross_margin=config.offers.gross_margin,
        value_periods=config.offers.value_periods,
        definition=config.churn.definition,
        horizon_days=config.churn.horizon_days,
    )
    tables = {"Per offer": lift_table(rows, None, settings)}
    for segment in segments:
        table = lift_table(rows, segment, settings)
        tables[f"By {segment} (all offers)"] = table[table["offer_id"] == "any"]
    with atomic_dir(folder_path) as folder:
        (folder / "report.md").write_text(
            render_markdown(campaign_id, rows, tables, settings), encoding="utf-8"
        )
        plot_lift(tables["Per offer"], folder / "lift.png")
        pd.concat(tables.values(), ignore_index=True).to_csv(folder / "lift.csv", index=False)
    per_offer = tables["Per offer"]
    for record in per_offer.itertuples(index=False):
        detectable = (
            "none with these arm sizes"
            if math.isnan(record.detectable_lift)
            else f"{record.detectable_lift:.3f}"
        )
        typer.echo(
            f"{record.offer_id:>14}: lift {record.lift:+.3f} "
            f"[{record.lift_ci_low:+.3f}, {record.lift_ci_high:+.3f}], "
            f"detectable {detectable}, net gain {record.net_gain:,.0f}"
        )
    uncosted = uncosted_offers(rows, settings)
    if uncosted:
        typer.echo(
            f"not in offers.catalog, so cost and net gain are unknown: {', '.join(uncosted)}"
        )
    typer.echo(f"report: {folder_path / 'report.md'}")
    return {"per_offer": per_offer.to_dict(orient="records")}


REPORT_FILES = frozenset({"report.md", "lift.png", "lift.csv"})
"""What a report folder holds; ``--out`` replaces the folder as a whole (atomically)."""


def _default_folder(config: Config, campaign_id: str) -> Path:
    """``data/campaigns/<campaign id>`` (next to the offers folder), for an id that names one
    folder there: ``../offers`` or ``a/b`` would put the report, which replaces its folder
    whole, over the offers or somewhere else entirely."""
    if campaign_id in ("", ".", "..") or any(c in campaign_id for c in "/\\\0"):
        raise CampaignReportError(
            f"campaign id {campaign_id!r} cannot name a folder under "
            f"{config.paths.offers_dir.parent / 'campaigns'}; give the report folder with --out"
        )
    return config.paths.offers_dir.parent / "campaigns" / campaign_id


def _check_report_folder(folder: Path, called: str) -> None:
    """Refuse a report folder holding anything but a previous report (``called``: how the
    message names it): replacing the folder as a whole would delete the user's own files."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise CampaignReportError(f"{called} {folder} is a file; name a folder for the report")
    foreign = sorted(entry.name for entry in folder.iterdir() if entry.name not in REPORT_FILES)
    if foreign:
        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
        raise CampaignReportError(
            f"{called} {folder} already holds other files ({shown}); the report replaces the "
            "whole folder, so move them or name a new or empty one with --out"
        )


def _inputs(
    config: Config,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame | None], pd.DataFrame, pd.Timestamp]:
    """The offers log, the outcome tables (orders, subscriptions; ``None`` when absent), the
    customers and the data's end."""
    con = connect(config.features)
    tables = load_raw_tables(con, config.paths.raw_dir)
    if "offers" not in tables:
        raise CampaignReportError(f"{config.paths.raw_dir}: no offers table to report on")
    needed = POPULATION_SOURCE[config.churn.definition]
    if needed not in tables:
        raise CampaignReportError(
            f"{config.paths.raw_dir}: no {needed} table; under the {config.churn.definition} "
            f"churn definition a campaign's outcome is read from it"
        )
    outcome_tables: dict[str, pd.DataFrame | None] = {
        "orders": _frame(tables, "orders", ORDER_COLUMNS),
        "subscriptions": _frame(tables, "subscriptions", SUBSCRIPTION_COLUMNS),
    }
    data_end = pd.Timestamp(resolve_snapshot_date(tables, config.features))
    return tables["offers"].to_pandas(), outcome_tables, tables["customers"].to_pandas(), data_end


def _frame(tables: dict[str, Any], name: str, columns: Sequence[str]) -> pd.DataFrame | None:
    return tables[name].select(*columns).to_pandas() if name in tables else None
