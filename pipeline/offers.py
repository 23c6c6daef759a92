"""DVC stage ``offers``: fit the offer policy on past campaigns, pick the campaign's targets,
and measure the policy against the synthetic world's truth.

Reads the raw offers log, orders and subscriptions, the features folder (training cutoffs,
snapshot), the champion churn model, the explain stage's snapshot reasons and, where present, the
truth. Writes ``paths.offers_dir`` atomically:

* ``targets.parquet`` / ``crm_import.csv``: one row per snapshot customer (offer or none,
  treatment/control/none, expected gain, churn probability, top reasons);
* ``policy/``: the fitted policy the scoring service loads (``offers.policy.load_policy``);
* ``summary.json``: uplift and value model evaluation, allocation, chosen models.

and the DVC metrics ``evaluation/offers.json`` plus Qini curves under
``evaluation/offers_plots/``.

An export without an offers table (optional in the data contract) has no campaign to learn from:
the policy then predicts no effect for any offer (``offers.uplift.NoEvidenceUplift``), so nobody
is sent one, and everything else (scores, values, reasons, the service's policy) is written as
usual, so ``dvc repro`` completes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
import typer
from xgboost.core import XGBoostError

from core.atomic import atomic_dir, atomic_path, json_text, rounded, write_json
from core.config import Config, OffersConfig
from core.layout import CRM_IMPORT_FILE, POLICY_DIR, REASONS_FILE, SNAPSHOT_FILE, TARGETS_FILE
from core.logging import first_line, get_logger
from features.build import build_features
from features.engine import connect
from features.sources import load_raw_tables
from models import tracking
from models.candidates import FeatureColumns, build_preprocessor, model_inputs
from models.reasons import SAME_MODEL_TOLERANCE
from models.training import predict_churn
from offers import truth as strategies
from offers.allocation import AllocationError
from offers.campaigns import (
    SEND_PAIR_SCHEMA,
    CampaignDataError,
    CampaignSplit,
    TooFewCampaignsError,
    campaign_rows,
    in_catalogue,
    send_dates,
    send_pairs,
    split_campaigns,
)
from offers.fitting import (
    VALUE_MODELS,
    UpliftEvaluation,
    compare_value_models,
    evaluate_uplift,
    fit_policy,
    fit_value,
)
from offers.held_out import HeldOutDataError, held_out_check
from offers.policy import GainTable, OfferPolicy, save_policy
from offers.power import measurement_plan
from offers.reach import ReachDataError
from offers.rules import NO_EVENT_OF_TYPE, NO_HISTORY, RuleInputError
from offers.targets import (
    ReasonsError,
    allocate_campaign,
    attach_reasons,
    crm_import,
    target_frame,
)
from offers.uplift import NoEvidenceUplift, UpliftDataError
from offers.value import (
    ORDER_COLUMNS,
    RFM_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    next_period_margin,
    next_period_subscription_margin,
)
from pipeline.errors import fail, read_output
from pipeline.recorded import load_training, read_registered
from pipeline.truth import truth_folder

_log = get_logger(__name__)

METRICS_FILE = "offers.json"
PLOTS_DIR = "offers_plots"


DATA_ERRORS = (
    AllocationError,
    CampaignDataError,
    HeldOutDataError,
    ReachDataError,
    ReasonsError,
    RuleInputError,
    UpliftDataError,
)
"""What the offers log, the features or the reasons cannot support, or a campaign the solver
cannot allocate in time: exit 1 with the message."""


def run(config: Config, require_reasons: bool = True) -> dict[str, Any]:
    """Fit, allocate, compare and write; return the metrics written to ``offers.json``."""
    try:
        return _run(config, require_reasons)
    except DATA_ERRORS as error:
        fail(str(error))
    except XGBoostError as error:  # settings XGBoost refuses only once it fits
        fail(
            f"offers.xgboost {config.offers.xgboost}: XGBoost cannot fit with them: "
            f"{first_line(error)}"
        )


def _run(config: Config, require_reasons: bool) -> dict[str, Any]:
    offers_config = config.offers
    if not offers_config.catalog:
        fail("offers.catalog in the params file is empty: list at least one offer")
    training = load_training(config.paths.features_dir)
    snapshot = read_output(config.paths.features_dir / SNAPSHOT_FILE, "features")
    columns = FeatureColumns.from_dict(read_registered(config.paths.models_dir)["feature_columns"])
    config = _with_usable_effect_features(config, columns)
    offers_config = config.offers
    champion = tracking.load_saved_model(_champion_path(config.paths.models_dir))
    snapshot_date = pd.to_datetime(snapshot["cutoff_date"]).dt.date.max()
    churn_probability = predict_churn(champion, snapshot, columns)
    reasons = _reasons(config.paths.explain_dir, require_reasons)
    if reasons is not None:  # before the fit: a stale file would cost its minutes for nothing
        _check_reasons_describe(reasons, snapshot["customer_id"], churn_probability)

    tables = load_raw_tables(connect(config.features), config.paths.raw_dir)
    if "orders" not in tables and "subscriptions" not in tables:
        fail(
            f"{config.paths.raw_dir}: neither an orders nor a subscriptions table; the customer "
            "value is the margin of one or both (the data contract requires at least one)"
        )
    campaigns, no_evidence_reason = _judge_learners(
        config, tables, champion, columns, snapshot_date
    )
    learner = campaigns.learner if campaigns is not None else NoEvidenceUplift.kind

    value = _value(tables, training, columns, config)
    policy = _policy(campaigns, value, columns, config, _unrecorded(tables, snapshot, config))

    table = policy.gains(snapshot, churn_probability)
    _warn_unreachable(table, offers_config)
    choice = allocate_campaign(table, offers_config)
    targets = target_frame(snapshot["customer_id"], churn_probability, table, choice, offers_config)
    targets = attach_reasons(targets, reasons)

    held_out = None
    if campaigns is not None:
        held_out = _held_out(
            campaigns.split,
            campaigns.evaluation.holdout_uplift.get(learner),
            policy,
            len(snapshot),
            config,
        )
    truth = _truth_comparison(
        config, snapshot, columns, snapshot_date, churn_probability, table, choice
    )
    metrics = {
        "snapshot_date": snapshot_date.isoformat(),
        "allocation": _allocation_summary(targets, offers_config.budget)
        | {
            "measurement": measurement_plan(
                targets, offers_config.control_share, _measured_on_picks(held_out)
            )
        },
        "uplift": campaigns.evaluation.metrics if campaigns else {},
        "uplift_skipped": campaigns.evaluation.skipped if campaigns else {},
        "uplift_learner": learner,
        "no_evidence_reason": no_evidence_reason,
        "value": {"chosen": value.kind, "models": value.evaluation},
        "held_out": held_out,
        "truth": truth,
    }
    split = campaigns.split if campaigns else None
    summary = {
        **metrics,
        "campaigns": {
            "fit": split.fit_campaigns if split else [],
            "holdout": split.holdout_campaigns if split else [],
        },
    }
    _write(
        config, targets, policy, summary, metrics, campaigns.evaluation.curves if campaigns else {}
    )
    _echo(metrics)
    return metrics


@dataclass(frozen=True)
class _Value:
    """The chosen customer-value model, and every competitor's held-out metrics."""

    kind: str
    evaluation: dict[str, dict[str, float]]
    model: Any


def _value(
    tables: dict[str, Any], training: pd.DataFrame, columns: FeatureColumns, config: Config
) -> _Value:
    """Value models compared on held-out spend, the winner refitted on every cutoff's stayers;
    BG/NBD models purchases, so it competes only when there are orders and the features that
    summarise them (the ``rfm`` and ``lifecycle`` families may be switched off)."""
    margin = _next_period_margin(tables, training, config)
    horizon = config.churn.horizon_days
    kinds = VALUE_MODELS
    lacking = [column for column in RFM_COLUMNS if column not in training.columns]
    if "orders" not in tables or lacking:
        kinds = ("gradient_boosting",)
    if "orders" in tables and lacking:
        _log.info("value model bg_nbd left out", reason="features it reads absent", absent=lacking)
    kind, evaluation = compare_value_models(
        training, margin, columns, config.offers, horizon, config.seed, kinds
    )
    model = fit_value(kind, training, margin, columns, config.offers, horizon, config.seed)
    return _Value(kind, evaluation, model)


@dataclass(frozen=True)
class _Unrecorded:
    """History the export never recorded, which the contact rules read as none: optional tables
    it lacks, and event types a rule reads that its events never held."""

    tables: tuple[str, ...]
    event_types: tuple[str, ...]


def _unrecorded(tables: dict[str, Any], snapshot: pd.DataFrame, config: Config) -> _Unrecorded:
    """The :class:`_Unrecorded` history of this export. An event type's columns are missing
    because the type never occurred only while the events family makes them; switched off, the
    family ignores history that exists, and the rules refuse to run without it."""
    events_family = "events" in tables and config.features.families.events
    return _Unrecorded(
        tables=tuple(table for table in NO_HISTORY if table not in tables),
        event_types=tuple(
            event_type
            for event_type, columns in NO_EVENT_OF_TYPE.items()
            if events_family and any(column not in snapshot.columns for column in columns)
        ),
    )


def _policy(
    campaigns: _Campaigns | None,
    value: _Value,
    columns: FeatureColumns,
    config: Config,
    unrecorded: _Unrecorded,
) -> OfferPolicy:
    """The learner picked on the held-out campaigns, refitted on every observed one; without
    campaign evidence, a policy that predicts no effect for any offer."""
    if campaigns is None:
        uplift = NoEvidenceUplift([offer.id for offer in config.offers.catalog])
        return OfferPolicy(
            config.offers,
            columns,
            uplift,
            value.model,
            value.kind,
            unrecorded.tables,
            unrecorded.event_types,
        )
    return fit_policy(
        campaigns.learner,
        campaigns.split.observed,
        value.model,
        value.kind,
        columns,
        config.offers,
        config.seed,
        unrecorded.tables,
        unrecorded.event_types,
    )


def _next_period_margin(
    tables: dict[str, Any], training: pd.DataFrame, config: Config
) -> pd.Series:
    """What each training row's customer brought in over the next horizon: the order margin, plus
    the margin of the subscription revenue the horizon covers when the export has subscriptions
    (the data contract requires at least one of the two tables)."""
    horizon, gross_margin = config.churn.horizon_days, config.offers.gross_margin
    margin = pd.Series(0.0, index=training.index)
    if "orders" in tables:
        orders = tables["orders"].select(*ORDER_COLUMNS).to_pandas()
        margin += next_period_margin(orders, training, horizon, gross_margin)
    if "subscriptions" in tables:
        subscriptions = tables["subscriptions"].select(*SUBSCRIPTION_COLUMNS).to_pandas()
        margin += next_period_subscription_margin(subscriptions, training, horizon, gross_margin)
    return margin


def _with_usable_effect_features(config: Config, columns: FeatureColumns) -> Config:
    """``config`` with ``offers.effect_features`` cut to the champion's inputs. The defaults
    name features an export may lack (``loyalty_member`` needs an events table, the discount
    share a ``discount_amount``), and train leaves out a column without values: the offers'
    effects then vary with the features that remain, with a warning naming the rest."""
    wanted = config.offers.effect_features
    if wanted is None:
        return config
    kept = [feature for feature in wanted if feature in columns.all]
    if kept == wanted:
        return config
    _log.warning(
        "effect features the champion does not use left out of the uplift models",
        left_out=[feature for feature in wanted if feature not in kept],
        kept=kept,
    )
    offers = config.offers.model_copy(update={"effect_features": kept})
    return config.model_copy(update={"offers": offers})


@dataclass(frozen=True)
class _Campaigns:
    """What the offers log taught: its fit/held-out split, the learners' held-out ranking, and
    the learner the policy uses."""

    split: CampaignSplit
    evaluation: UpliftEvaluation
    learner: str


def _judge_learners(
    config: Config,
    tables: dict[str, Any],
    champion: Any,
    columns: FeatureColumns,
    snapshot_date: dt.date,
) -> tuple[_Campaigns | None, str | None]:
    """Fit the uplift learners on the earlier campaigns and rank them on the held-out ones.

    Without campaigns to learn from, no offer has a measured effect, and the policy recommends
    none (:class:`NoEvidenceUplift`): then (None, why). That is an export without an offers
    table (optional in the data contract), or a log too young to hold more than
    ``offers.holdout_campaigns`` campaigns with an observed outcome: a business that logs its
    first campaign must not see the pipeline stop until the third.
    """
    if "offers" not in tables:
        return None, _no_evidence(
            "no offers table: no offer has a measured effect, so the policy recommends none; "
            "log a randomised campaign (with its control group) to learn one",
            config,
        )
    offers_config = config.offers
    offers_log = tables["offers"].to_pandas()
    dates = send_dates(offers_log)
    at_sends = build_features(
        tables,
        dates,
        config.features,
        config.churn,
        only=ibis.memtable(send_pairs(offers_log), schema=SEND_PAIR_SCHEMA),
    ).to_pandas()
    catalog = [offer.id for offer in offers_config.catalog]
    rows = in_catalogue(campaign_rows(offers_log, at_sends), catalog)
    rows["churn_probability"] = predict_churn(champion, rows, columns)
    try:
        split = split_campaigns(
            rows, snapshot_date, config.churn.horizon_days, offers_config.holdout_campaigns
        )
    except TooFewCampaignsError as error:
        return None, _no_evidence(
            f"{error}: the latest holdout_campaigns judge the uplift learners fitted on the "
            "earlier ones, so no offer is recommended until there are more",
            config,
        )
    holdout_risk = split.holdout["churn_probability"].to_numpy()
    evaluation = evaluate_uplift(split, holdout_risk, columns, offers_config, config.seed)
    learner = evaluation.best_learner if offers_config.learner == "auto" else offers_config.learner
    return _Campaigns(split, evaluation, learner), None


def _no_evidence(reason: str, config: Config) -> str:
    _log.warning(reason, raw_dir=str(config.paths.raw_dir))
    return reason


def _held_out(
    split: CampaignSplit,
    uplift: np.ndarray | None,
    policy: OfferPolicy,
    snapshot_rows: int,
    config: Config,
) -> dict[str, Any] | None:
    """The policy and the baselines on the held-out campaigns (``offers.held_out``), with the
    learner's uplift fitted without them; None when that learner was not evaluated (named in
    ``offers.learner`` but absent from ``offers.learners``)."""
    if uplift is None:
        _log.warning("held-out check skipped: the policy's learner was not evaluated")
        return None
    try:
        check = held_out_check(
            split.holdout,
            uplift,
            split.holdout["churn_probability"].to_numpy(),
            policy,
            len(split.holdout) / snapshot_rows,
            config.seed,
        )
    except AllocationError as error:  # a diagnostic: the campaign's own outputs stand without it
        _log.warning(
            "held-out check skipped: an allocation on the held-out campaigns found no solution",
            error=str(error),
            hint="raise offers.solver_time_limit_s",
        )
        return None
    return check | {"campaigns": split.holdout_campaigns}


def _measured_on_picks(held_out: dict[str, Any] | None) -> dict[str, float | None]:
    """Per offer, the lift the held-out campaigns measured where the policy would send it."""
    if held_out is None:
        return {}
    return {
        offer: scopes["policy_picks"]["measured_uplift"]
        for offer, scopes in held_out["uplift_calibration"].items()
    }


def _truth_comparison(
    config: Config,
    snapshot: pd.DataFrame,
    columns: FeatureColumns,
    snapshot_date: dt.date,
    churn_probability: np.ndarray,
    table: GainTable,
    choice: np.ndarray,
) -> dict[str, Any] | None:
    """True net gain of the policy and the reference strategies at the snapshot, where the
    synthetic world's truth is at hand and knows every catalogue offer."""
    folder = truth_folder(config, "truth comparison")
    if folder is None:
        return None
    # only the snapshot's rows: the truth holds every cutoff (13 rows a customer by default)
    truth = pd.read_parquet(folder, filters=[("cutoff_date", "==", snapshot_date)])
    if truth.empty:
        _log.warning("truth has no rows at the snapshot date", snapshot=str(snapshot_date))
        return None
    catalog = [offer.id for offer in config.offers.catalog]
    unknown = [offer for offer in catalog if f"p_churn_{offer}" not in truth.columns]
    if unknown:  # a catalogue offer the simulated world never had: it knows no true effect
        _log.warning(
            "the truth comparison is skipped: the synthetic truth has no effect for these offers",
            offers=unknown,
            truth=str(folder),
            hint="the synthetic world's offers are generate.offers in params.yaml",
        )
        return None
    design = build_preprocessor("xgboost", columns).fit_transform(model_inputs(snapshot, columns))
    try:
        return strategies.compare_with_truth(
            snapshot[["customer_id"]].merge(truth, on="customer_id", how="left"),
            np.asarray(design, dtype=float),
            churn_probability,
            table,
            choice,
            config.offers,
            config.seed,
        )
    except AllocationError as error:  # a yardstick: the campaign's own outputs stand without it
        _log.warning(
            "the truth comparison is skipped: an allocation on the truth found no solution",
            error=str(error),
            hint="raise offers.solver_time_limit_s to compare the policy with the oracle",
        )
        return None


def _allocation_summary(targets: pd.DataFrame, budget: float) -> dict[str, Any]:
    picked = targets[targets["group"] != "none"]
    treated = targets[targets["group"] == "treatment"]
    return {
        "customers": len(targets),
        "picked": len(picked),
        "treatment": len(treated),
        "control": int((targets["group"] == "control").sum()),
        "budget": budget,
        "planned_cost": float(picked["cost"].sum()),
        "treatment_cost": float(treated["cost"].sum()),
        "expected_gain_treatment": float(treated["expected_gain"].sum()),
        "per_offer": {
            str(offer): int(count) for offer, count in picked["offer_id"].value_counts().items()
        },
    }


def _reasons(explain_dir: Path, required: bool) -> pd.DataFrame | None:
    path = explain_dir / REASONS_FILE
    if not path.exists() and not required:
        _log.warning("no snapshot reasons: reason_texts left empty", path=str(path))
        return None
    return read_output(path, "explain")


def _check_reasons_describe(
    reasons: pd.DataFrame, customer_ids: pd.Series, churn_probability: np.ndarray
) -> None:
    """Exit 1 when the explain stage's reasons were written for another snapshot or champion
    (``churn features`` or ``churn train`` ran again since ``churn explain``): the CRM file
    would put one model's reasons next to another's scores, or none at all."""
    if not {"customer_id", "churn_probability"} <= set(reasons.columns):
        return  # attach_reasons names what is missing
    mine = pd.Series(churn_probability, index=customer_ids.astype(str).to_numpy())
    theirs = reasons.set_index(reasons["customer_id"].astype(str))["churn_probability"]
    where = f"{len(reasons):,} rows of {REASONS_FILE}"
    rerun = "run `churn explain` (dvc repro runs the stages in order)"
    repeated = theirs.index[theirs.index.duplicated()].unique()
    if len(repeated):
        fail(
            f"{where} repeat {len(repeated):,} customer id(s) (e.g. {', '.join(repeated[:3])}); "
            f"the explain stage writes one row per snapshot customer: {rerun}"
        )
    lacking = mine.index.difference(theirs.index)
    if len(lacking):
        fail(
            f"{where} lack {len(lacking):,} of the {len(mine):,} snapshot customers (e.g. "
            f"{', '.join(lacking[:3])}): they were written for another snapshot; {rerun}"
        )
    gap = np.abs(theirs.reindex(mine.index).to_numpy(dtype=float) - mine.to_numpy())
    if np.nanmax(gap, initial=0.0) > SAME_MODEL_TOLERANCE:
        fail(
            f"{where} give other churn probabilities than the champion for "
            f"{int((gap > SAME_MODEL_TOLERANCE).sum()):,} snapshot customers (up to "
            f"{np.nanmax(gap):.3f} apart): they were written by another model; {rerun}"
        )


def _warn_unreachable(table: GainTable, config: OffersConfig) -> None:
    """Warn about a catalogue offer no snapshot customer may receive: its eligibility (a country
    code the customers do not use, say) or the contact rules exclude everyone, so the campaign
    silently spends its budget on the other offers."""
    for offer, allowed in zip(config.catalog, table.allowed.T, strict=True):
        if not allowed.any():
            _log.warning(
                "no customer may receive this offer",
                offer=offer.id,
                customers=len(allowed),
                rules=offer.model_dump(include={"min_tenure_days", "members_only", "countries"}),
            )


def _write(
    config: Config,
    targets: pd.DataFrame,
    policy: Any,
    summary: dict[str, Any],
    metrics: dict[str, Any],
    curves: dict[str, pd.DataFrame],
) -> None:
    """Every output is written in full before any is swapped in, so a failure (a full disk, an
    unwritable evaluation folder) leaves the targets, policy and metrics of one run together."""
    evaluation = config.paths.evaluation_dir
    with (
        atomic_dir(config.paths.offers_dir) as folder,
        atomic_path(evaluation / METRICS_FILE) as metrics_file,
        atomic_dir(evaluation / PLOTS_DIR) as plots,
    ):
        targets.to_parquet(folder / TARGETS_FILE, index=False)
        crm_import(targets).to_csv(folder / CRM_IMPORT_FILE, index=False)
        save_policy(policy, folder / POLICY_DIR)
        write_json(folder / "summary.json", rounded(summary))
        metrics_file.write_text(json_text(rounded(metrics)), encoding="utf-8")
        for offer, curve in curves.items():
            curve.round(6).to_csv(plots / f"qini_{offer}.csv", index=False)


def _champion_path(models_dir: Path) -> Path:
    path = models_dir / "champion"
    if not path.is_dir():
        fail(f"{path} not found; run `churn train` (dvc repro train) first")
    return path


def _echo(metrics: dict[str, Any]) -> None:
    allocation = metrics["allocation"]
    typer.echo(
        f"offers: {allocation['treatment']} treatment + {allocation['control']} control of "
        f"{allocation['customers']} customers, cost {allocation['planned_cost']:.0f} of "
        f"{allocation['budget']:.0f}; value model {metrics['value']['chosen']}"
    )
    held_out = metrics["held_out"]
    if held_out:
        gains = {
            name: None if r["net_gain"] is None else round(r["net_gain"], 1)
            for name, r in held_out["strategies"].items()
        }
        typer.echo(f"estimated net gain on held-out campaigns: {json.dumps(gains)}")
    truth = metrics["truth"]
    if truth:
        gains = {name: round(r["net_gain"], 1) for name, r in truth["strategies"].items()}
        share = truth["policy_share_of_oracle"]
        typer.echo(
            f"true net gain: {json.dumps(gains)}; policy/oracle "
            + ("n/a (the oracle gains nothing)" if share is None else f"{share:.1%}")
        )
