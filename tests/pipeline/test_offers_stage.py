"""``churn offers`` and ``churn campaign-report`` on a tiny synthetic world, end to end:
generate, features and train for real (MLflow SQLite store in the scratch project), then the
offers stage without the explain stage's reasons, and a report of a simulated campaign."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import typer
import yaml
from structlog.testing import capture_logs

from core.config import Config
from offers.policy import load_policy
from pipeline import campaign_report, features, generate, offers, train

pytestmark = pytest.mark.slow

CATALOG = [
    {"id": "discount_10", "unit_cost": 2.0, "min_tenure_days": 30, "capacity": 40},
    {"id": "free_shipping", "unit_cost": 2.5, "capacity": 40},
    {"id": "bonus_points", "unit_cost": 1.2, "members_only": True, "capacity": 40},
]
PARAMS = {
    "seed": 3,
    "generate": {"n_customers": 1200, "chunk_customers": 600, "n_jobs": 1},
    "features": {"cutoffs": {"count": 4}},
    "train": {
        "split": {"embargo": False},
        "tuning": {"n_trials": 0},
        "candidates": [{"name": "logistic", "kind": "logistic_regression"}],
    },
    "offers": {
        "catalog": CATALOG,
        "budget": 150.0,
        "control_share": 0.2,
        "holdout_campaigns": 2,
        "xgboost": {"n_estimators": 30, "max_depth": 2},
        "learners": ["t_learner", "x_learner", "hazard_ratio", "reach_hazard"],
        "effect_features": ["loyalty_member", "rfm_discount_share_365d", "rfm_orders_365d"],
    },
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    run_stages(root, PARAMS)
    return root


def run_stages(
    root: Path, params: dict[str, Any], export: Callable[[Path], None] | None = None
) -> dict[str, Any]:
    """generate, then ``export`` (raw tables → ``paths.raw_dir``) if given, features, train and
    offers (without reasons) in the scratch project ``root`` with its own MLflow store; returns
    the offers metrics."""
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(root / "params.yaml")
        generate.run(config)
        if export is not None:
            export(root)
        features.run(config)
        train.run(config)
        return offers.run(config, require_reasons=False)


def test_targets_respect_budget_capacity_and_rules(project: Path) -> None:
    targets = pd.read_parquet(project / "data/offers/targets.parquet")
    snapshot = pd.read_parquet(project / "data/features/snapshot.parquet")

    assert targets["customer_id"].tolist() == snapshot["customer_id"].astype(str).tolist()
    picked = targets[targets["group"] != "none"]
    assert len(picked) > 0
    assert picked["cost"].sum() <= 150.0 + 1e-9
    assert picked["offer_id"].value_counts().max() <= 40
    assert (picked["expected_gain"] > 0).all()
    members = snapshot.set_index(snapshot["customer_id"].astype(str))["loyalty_member"]
    bonus = picked[picked["offer_id"] == "bonus_points"]["customer_id"]
    assert (members.loc[bonus] > 0).all()  # members-only offer
    assert targets.loc[targets["group"] == "none", "offer_id"].isna().all()
    csv = pd.read_csv(project / "data/offers/crm_import.csv", keep_default_na=False)
    assert list(csv.columns[:4]) == ["customer_id", "campaign_id", "offer_id", "group"]
    assert (csv["offer_id"] == "").sum() == (targets["group"] == "none").sum()
    # the CRM sees why a customer gets nothing: not reached by the budget, a rule, no gain
    assert csv["decision"].tolist() == targets["decision"].tolist()
    assert set(picked["decision"]) == {"campaign"}
    unpicked = set(targets.loc[targets["group"] == "none", "decision"])
    allowed = {"budget_or_capacity", "no_eligible_offer", "no_positive_gain"}
    assert unpicked and all(d in allowed or d.startswith("contact_rule:") for d in unpicked)


def test_metrics_compare_the_policy_with_truth_and_baselines(project: Path) -> None:
    metrics = json.loads((project / "evaluation/offers.json").read_text())

    strategies = metrics["truth"]["strategies"]
    assert set(strategies) == {"policy", "risk_cheapest", "random", "oracle", "feature_ceiling"}
    for result in strategies.values():
        assert result["cost"] <= 150.0 + 1e-6
    # the oracle maximises the true gain under the same limits: nobody beats it
    assert all(
        r["net_gain"] <= strategies["oracle"]["net_gain"] + 1e-6 for r in strategies.values()
    )
    truth = metrics["truth"]
    ceiling = strategies["feature_ceiling"]["net_gain"]
    share = ceiling / strategies["oracle"]["net_gain"]
    assert truth["feature_ceiling_share_of_oracle"] == pytest.approx(share, abs=1e-6)
    assert metrics["value"]["chosen"] in {"gradient_boosting", "bg_nbd"}
    uplift = metrics["uplift"]["discount_10"]
    assert set(uplift) >= {"t_learner", "x_learner", "hazard_ratio", "reach_hazard", "risk_ranking"}
    x_learner = uplift["x_learner"]
    assert x_learner["qini_minus_risk_ci_low"] <= x_learner["qini_minus_risk_ci_high"]
    assert metrics["uplift_learner"] in {"t_learner", "x_learner", "hazard_ratio", "reach_hazard"}
    measurement = metrics["allocation"]["measurement"]
    assert measurement["treatment"] == metrics["allocation"]["treatment"]
    assert measurement["control"] == metrics["allocation"]["control"]
    assert isinstance(measurement["can_confirm_predicted_lift"], bool)
    held_out = metrics["held_out"]
    assert set(held_out["strategies"]) == {"policy", "risk_cheapest", "random"}
    assert held_out["budget"] < 150.0
    for result in held_out["strategies"].values():
        assert result["cost"] <= held_out["budget"] + 1e-6
    policy = held_out["strategies"]["policy"]
    assert {"net_gain_ci_low", "predicted_net_gain", "predicted_customers_saved"} <= set(policy)
    assert set(held_out["uplift_calibration"]) == {offer["id"] for offer in CATALOG}
    everyone = held_out["uplift_calibration"]["discount_10"]["all"]
    assert everyone["rows"] == held_out["rows"]
    assert everyone["treated_rows"] == uplift["rows"]["treated"]
    assert everyone["control_rows"] == uplift["rows"]["control"]
    curve = pd.read_csv(project / "evaluation/offers_plots/qini_discount_10.csv")
    assert {"share", "x_learner", "risk_ranking"} <= set(curve.columns)
    # the plan's held-out lift is the picks' measured lift, weighted by the campaign's sends
    targets = pd.read_parquet(project / "data/offers/targets.parquet")
    sent = targets.loc[targets["group"] != "none", "offer_id"].value_counts()
    picks = {
        o: c["policy_picks"]["measured_uplift"] for o, c in held_out["uplift_calibration"].items()
    }
    measured = {offer: n for offer, n in sent.items() if picks[offer] is not None}
    expected = sum(picks[o] * n for o, n in measured.items()) / sum(measured.values())
    assert measurement["held_out_lift"] == pytest.approx(expected, abs=1e-6)


def test_persisted_policy_recommends_without_budget(project: Path) -> None:
    policy = load_policy(project / "data/offers/policy")
    snapshot = pd.read_parquet(project / "data/features/snapshot.parquet").head(50)

    recommended = policy.recommend(snapshot, np.full(len(snapshot), 0.5))

    assert len(recommended) == 50
    assert set(recommended["offer_id"].dropna()) <= set(policy.catalog)
    assert (recommended["reason"] != "").all()


def test_campaign_report_of_a_simulated_campaign(project: Path) -> None:
    log = pd.read_parquet(project / "data/raw/offers")
    first = sorted(log["campaign_id"].unique())[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        result = campaign_report.run(Config.load(project / "params.yaml"), first)

    per_offer = pd.DataFrame(result["per_offer"])
    assert set(per_offer["offer_id"]) == {*log["offer_id"].dropna().unique(), "any"}
    assert (per_offer["lift_ci_low"] <= per_offer["lift"]).all()
    assert (per_offer["lift"] <= per_offer["lift_ci_high"]).all()
    folder = project / "data/campaigns" / first
    assert (folder / "lift.png").stat().st_size > 0
    assert "## Per offer" in (folder / "report.md").read_text()


def test_campaign_report_out_refuses_a_folder_holding_other_files(
    project: Path, tmp_path: Path
) -> None:
    first = sorted(pd.read_parquet(project / "data/raw/offers")["campaign_id"].unique())[0]
    mine = tmp_path / "my_documents"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    again = tmp_path / "report"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        config = Config.load(project / "params.yaml")
        with pytest.raises(typer.Exit):
            campaign_report.run(config, first, out=mine)
        campaign_report.run(config, first, out=again)
        campaign_report.run(config, first, out=again)  # a previous report is simply replaced

    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(path.name for path in mine.iterdir()) == ["notes.txt"]
    assert sorted(path.name for path in again.iterdir()) == ["lift.csv", "lift.png", "report.md"]


@pytest.mark.parametrize("campaign_id", ["../offers", "a/b", "..", "x\\y"])
def test_a_campaign_id_that_is_no_folder_name_is_refused_before_anything_is_written(
    project: Path, campaign_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    offers_before = sorted(p.name for p in (project / "data/offers").iterdir())
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(typer.Exit):
            campaign_report.run(Config.load(project / "params.yaml"), campaign_id)

    assert "cannot name a folder" in capsys.readouterr().err
    assert sorted(p.name for p in (project / "data/offers").iterdir()) == offers_before


def test_the_default_report_folder_keeps_an_analysts_own_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = sorted(pd.read_parquet(project / "data/raw/offers")["campaign_id"].unique())[0]
    folder = project / "data/campaigns" / first
    folder.mkdir(parents=True, exist_ok=True)
    notes = folder / "notes.md"
    notes.write_text("keep me")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(project)
            with pytest.raises(typer.Exit):
                campaign_report.run(Config.load(project / "params.yaml"), first)
        assert notes.read_text() == "keep me"
        assert "already holds other files (notes.md)" in capsys.readouterr().err
    finally:
        notes.unlink()


def test_offers_xgboost_settings_refused_at_fit_stop_the_stage_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = (project / "data/offers/targets.parquet").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        odd = config.offers.model_copy(update={"xgboost": {"max_depth": "deep"}})
        with pytest.raises(typer.Exit) as stopped:
            offers.run(config.model_copy(update={"offers": odd}), require_reasons=False)

    assert stopped.value.exit_code == 1
    message = capsys.readouterr().err
    assert "offers.xgboost {'max_depth': 'deep'}: XGBoost cannot fit with them" in message
    assert "Stack trace" not in message
    assert (project / "data/offers/targets.parquet").read_bytes() == targets


def test_a_failed_write_leaves_every_output_of_the_last_run(project: Path) -> None:
    """The targets used to be swapped in before the evaluation folder was written, so a failure
    there left the new targets beside the old metrics."""
    folder = project / "data/offers"
    before = {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    metrics = (project / "evaluation/offers.json").read_bytes()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        config = Config.load(project / "params.yaml")
        unwritable = config.paths.model_copy(
            update={"evaluation_dir": project / "params.yaml" / "evaluation"}  # under a file
        )
        changed = config.offers.model_copy(update={"budget": 90.0})
        with pytest.raises(NotADirectoryError):
            offers.run(
                config.model_copy(update={"paths": unwritable, "offers": changed}),
                require_reasons=False,
            )

    assert {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before
    assert (project / "evaluation/offers.json").read_bytes() == metrics


def test_an_offer_nobody_may_receive_is_warned_about() -> None:
    """Say so, rather than let the campaign spend its budget on the other offers in silence
    (a country code no customer uses, say)."""
    from offers.policy import GainTable

    config = Config.model_validate(PARAMS)
    allowed = np.array([[False, True, True], [False, False, True]])
    zeros = np.zeros(allowed.shape)
    table = GainTable(zeros, np.zeros(2), zeros, allowed, pd.Series(["", ""]))

    with capture_logs() as logs:
        offers._warn_unreachable(table, config.offers)

    [warning] = [log for log in logs if log["log_level"] == "warning"]
    assert warning["offer"] == "discount_10" and warning["customers"] == 2
    assert warning["rules"]["min_tenure_days"] == 30


def test_an_offers_log_too_young_to_judge_learners_recommends_nothing_yet(
    project: Path,
) -> None:
    """Fewer observed campaigns than ``holdout_campaigns`` + 1 (a business that has logged its
    first campaign): no learner can be judged, so no offer is recommended, and the stage says
    why instead of stopping the pipeline until the log is old enough."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["offers"]["holdout_campaigns"] = 50
    params["paths"] = {"offers_dir": "young/offers", "evaluation_dir": "young/evaluation"}
    (project / "too_many.yaml").write_text(yaml.safe_dump(params))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        metrics = offers.run(Config.load(project / "too_many.yaml"), require_reasons=False)

    assert metrics["uplift_learner"] == "none"
    assert "need more than holdout_campaigns=50" in metrics["no_evidence_reason"]
    assert set(pd.read_parquet(project / "young/offers/targets.parquet")["group"]) == {"none"}
    learnt = json.loads((project / "evaluation/offers.json").read_text())
    assert learnt["no_evidence_reason"] is None and learnt["uplift_learner"] != "none"


def test_a_solver_out_of_time_skips_a_yardstick_but_stops_the_campaign_in_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At 100k customers the oracle's allocation on the truth found no solution within the 60 s
    limit: a traceback, and the targets, CRM file and policy already made were lost."""
    from offers.allocation import AllocationError

    def out_of_time(*args: object, **kwargs: object) -> np.ndarray:
        raise AllocationError("offer allocation: the solver found no solution (time limit)")

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["paths"] = {"offers_dir": "late/offers", "evaluation_dir": "late/evaluation"}
    (project / "late.yaml").write_text(yaml.safe_dump(params))
    late = Config.load(project / "late.yaml")
    later = late.model_copy(
        update={"paths": late.paths.model_copy(update={"offers_dir": project / "later/offers"})}
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        patch.setattr("offers.truth.oracle", out_of_time)
        patch.setattr("offers.held_out.allocate", out_of_time)
        with capture_logs() as logs:
            metrics = offers.run(late, require_reasons=False)
        patch.setattr("pipeline.offers.allocate_campaign", out_of_time)
        with pytest.raises(typer.Exit) as stopped:
            offers.run(later, require_reasons=False)

    assert metrics["truth"] is None and metrics["held_out"] is None
    skipped = {entry["event"] for entry in logs if entry["log_level"] == "warning"}
    assert "the truth comparison is skipped: an allocation on the truth found no solution" in (
        skipped
    )
    assert (project / "late/offers/targets.parquet").is_file()
    assert stopped.value.exit_code == 1
    assert "the solver found no solution" in capsys.readouterr().err
    assert not (project / "later/offers").exists()


def test_an_export_without_orders_or_subscriptions_exits_1_naming_what_the_value_needs(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The data contract requires one of the two (``churn validate`` says so); run anyway, the
    offers stage and the campaign report say what they miss instead of failing with a
    KeyError."""
    shutil.copytree(
        project / "data/raw",
        project / "raw_without_orders",
        ignore=shutil.ignore_patterns("orders"),
    )
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["paths"] = {"raw_dir": "raw_without_orders", "offers_dir": "out/offers"}
    (project / "no_orders.yaml").write_text(yaml.safe_dump(params))
    config = Config.load(project / "no_orders.yaml")
    first = sorted(pd.read_parquet(project / "data/raw/offers")["campaign_id"].unique())[0]

    assert _exit_code_in(project, lambda: offers.run(config, require_reasons=False)) == 1
    assert "neither an orders nor a subscriptions table" in capsys.readouterr().err
    assert not (project / "out/offers").exists()
    assert _exit_code_in(project, lambda: campaign_report.run(config, first)) == 1
    assert "raw_without_orders: no orders table" in capsys.readouterr().err


@pytest.mark.parametrize("stale", ["other_snapshot", "other_model", "repeated_ids"])
def test_reasons_written_for_another_snapshot_or_model_stop_the_stage_before_the_fit(
    project: Path, capsys: pytest.CaptureFixture[str], stale: str
) -> None:
    """With features or train run again after explain, the CRM file carried a new snapshot's
    scores beside an old one's reasons (or none), and the stage exited 0. A hand-edited file
    repeating a customer stopped it with a pandas traceback."""
    targets = pd.read_parquet(project / "data/offers/targets.parquet")
    reasons = targets[["customer_id", "churn_probability"]].copy()
    reasons["reason_texts"] = "[]"
    if stale == "other_snapshot":
        reasons = reasons.iloc[5:]
    elif stale == "other_model":
        reasons["churn_probability"] = 1 - reasons["churn_probability"]
    else:
        reasons = pd.concat([reasons, reasons.iloc[:2]], ignore_index=True)
    explain_dir = project / f"explain_{stale}"
    explain_dir.mkdir()
    reasons.to_parquet(explain_dir / "snapshot_reasons.parquet", index=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["paths"] = {"explain_dir": f"explain_{stale}", "offers_dir": f"out/offers_{stale}"}
    (project / f"{stale}.yaml").write_text(yaml.safe_dump(params))
    config = Config.load(project / f"{stale}.yaml")

    assert _exit_code_in(project, lambda: offers.run(config)) == 1
    error = capsys.readouterr().err
    expected = {
        "other_snapshot": "lack 5 of the",
        "other_model": "other churn probabilities",
        "repeated_ids": "repeat 2 customer id(s)",
    }[stale]
    assert expected in error and "run `churn explain`" in error
    assert not (project / f"out/offers_{stale}").exists()


def _exit_code_in(project: Path, command: Callable[[], object]) -> int:
    """Run ``command`` from ``project`` (relative params paths), expecting it to stop."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        with pytest.raises(typer.Exit) as stopped:
            command()
    return stopped.value.exit_code


@pytest.fixture(scope="module")
def minimal_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The smallest export the data contract allows for retail (customers, orders) plus support
    tickets: no offers and no events table. features → train → offers on it, for real."""
    root = tmp_path_factory.mktemp("minimal")

    def without_offers_and_events(root: Path) -> None:
        shutil.copytree(
            root / "data/raw", root / "export", ignore=shutil.ignore_patterns("offers", "events")
        )

    metrics = run_stages(root, PARAMS | {"paths": {"raw_dir": "export"}}, without_offers_and_events)
    return root, metrics


def test_an_export_without_offers_or_events_gets_a_policy_that_recommends_nothing(
    minimal_export: tuple[Path, dict[str, Any]],
) -> None:
    """Without past campaigns no offer has a measured effect, so ``dvc repro`` still completes,
    every customer is scored and valued, nobody is sent an offer, and the service's policy loads
    and recommends none; the contact rules read the absent tables as no history."""
    root, metrics = minimal_export
    assert sorted(path.name for path in (root / "export").iterdir()) == [
        "customers",
        "orders",
        "support_tickets",
    ]

    assert metrics["uplift_learner"] == "none"
    assert metrics["no_evidence_reason"].startswith("no offers table")
    assert (metrics["uplift"], metrics["held_out"]) == ({}, None)
    assert metrics["allocation"]["measurement"] == {"treatment": 0, "control": 0}
    snapshot = pd.read_parquet(root / "data/features/snapshot.parquet")
    targets = pd.read_parquet(root / "data/offers/targets.parquet")
    assert len(targets) == len(snapshot) > 0
    assert set(targets["group"]) == {"none"}
    assert (targets["expected_gain"] == 0).all()
    assert targets["churn_probability"].between(0, 1).all()
    assert targets["churn_probability"].nunique() > 10
    assert (targets["value"] > 0).any()
    policy = load_policy(root / "data/offers/policy")
    assert policy.absent_tables == ("offers", "events")
    recommended = policy.recommend(snapshot, targets["churn_probability"].to_numpy())
    assert recommended["offer_id"].isna().all()
    assert set(recommended["reason"]) == {"no_positive_gain"}
    assert list((root / "evaluation/offers_plots").iterdir()) == []
    summary = json.loads((root / "data/offers/summary.json").read_text())
    assert summary["campaigns"] == {"fit": [], "holdout": []}


MRR_BY_PLAN = {"basic": 15.0, "plus": 30.0}


def write_subscriptions(root: Path, mrr_by_plan: dict[str, float]) -> None:
    """``export/subscriptions.csv``: one subscription per customer of a plan in ``mrr_by_plan``,
    from sign-up to the day before the truth's churn (running if the customer never churns)."""
    customers = pd.read_parquet(root / "data/raw/customers")
    churn = pd.read_parquet(root / "data/truth/customers", columns=["customer_id", "churn_ts"])
    rows = customers.merge(churn, on="customer_id")
    rows = rows[rows["plan"].isin(list(mrr_by_plan))]
    start = pd.to_datetime(rows["signup_date"]).dt.date
    last_day = (rows["churn_ts"].dt.normalize() - pd.Timedelta(days=1)).dt.date
    pd.DataFrame(
        {
            "subscription_id": "S" + rows["customer_id"].astype(str),
            "customer_id": rows["customer_id"],
            "start_date": start,
            "end_date": [
                None if pd.isna(d) else max(d, s) for d, s in zip(last_day, start, strict=True)
            ],
            "mrr": rows["plan"].map(mrr_by_plan),
        }
    ).to_csv(root / "export/subscriptions.csv", index=False)


@pytest.fixture(scope="module")
def subscription_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A contractual business: the synthetic world's customers, events and offers log, and one
    subscription per customer from sign-up to churn (the truth's ``churn_ts``) in place of its
    orders; churn is the subscription definition. features → train → offers, for real."""
    root = tmp_path_factory.mktemp("subscriptions")

    def subscriptions_instead_of_orders(root: Path) -> None:
        shutil.copytree(root / "data/raw", root / "export", ignore=shutil.ignore_patterns("orders"))
        write_subscriptions(root, MRR_BY_PLAN)

    params = PARAMS | {
        "paths": {"raw_dir": "export"},
        "churn": {"definition": "subscription"},
    }
    metrics = run_stages(root, params, subscriptions_instead_of_orders)
    return root, metrics


def test_a_subscriptions_export_is_valued_by_its_recurring_revenue_and_gets_offers(
    subscription_export: tuple[Path, dict[str, Any]],
) -> None:
    """Without orders the value is the margin of the subscription revenue the next horizon
    covers; BG/NBD, a model of purchases, does not compete; the uplift learners fit on the
    offers log with subscription labels."""
    root, metrics = subscription_export
    snapshot = pd.read_parquet(root / "data/features/snapshot.parquet")
    assert "subscription_mrr" in snapshot.columns
    assert not any(column.startswith("rfm_") for column in snapshot.columns)

    assert metrics["value"]["chosen"] == "gradient_boosting"
    assert set(metrics["value"]["models"]) == {"gradient_boosting", "test_rows"}
    # a stayer's next 90 days at 15 or 30 a month, times the 0.3 gross margin
    mean_margin = metrics["value"]["models"]["test_rows"]["mean_margin"]
    assert 0.3 * 15 * 90 / (365.25 / 12) - 1e-6 <= mean_margin <= 0.3 * 30 * 90 / (365.25 / 12)
    assert metrics["uplift_learner"] != "none"
    targets = pd.read_parquet(root / "data/offers/targets.parquet")
    assert len(targets) == len(snapshot) > 0
    assert (targets["value"] > 0).all()


@pytest.fixture(scope="module")
def hybrid_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A retailer with a paid membership: the synthetic world's tables, orders included, and a
    subscription for each ``plus`` customer; churn stays inactivity."""
    root = tmp_path_factory.mktemp("hybrid")

    def membership_beside_orders(root: Path) -> None:
        shutil.copytree(root / "data/raw", root / "export")
        write_subscriptions(root, {"plus": 30.0})

    metrics = run_stages(root, PARAMS | {"paths": {"raw_dir": "export"}}, membership_beside_orders)
    return root, metrics


def test_a_hybrid_export_is_valued_by_orders_and_membership(
    hybrid_export: tuple[Path, dict[str, Any]],
) -> None:
    """Both value models compete on the margin of orders and membership fees. The stayers the
    value models fit on all still have their membership, so the days since one ended hold no
    value there (histogram gradient boosting cannot bin such a column: the stage used to stop).
    BG/NBD adds the running membership fee to the purchases it predicts."""
    root, metrics = hybrid_export
    snapshot = pd.read_parquet(root / "data/features/snapshot.parquet")
    training = pd.read_parquet(root / "data/features/training.parquet")
    stayers = training[training["churned"] == 0]
    assert stayers["subscription_days_since_last_end"].isna().all()
    assert training["subscription_days_since_last_end"].notna().any()

    assert set(metrics["value"]["models"]) == {"gradient_boosting", "bg_nbd", "test_rows"}
    value_model = load_policy(root / "data/offers/policy").value_model
    if metrics["value"]["chosen"] == "gradient_boosting":
        assert "subscription_days_since_last_end" not in value_model.inputs_.all
        assert "subscription_mrr" in value_model.inputs_.all
    else:
        members = (snapshot["subscription_mrr"] > 0).to_numpy()
        assert members.any() and not members.all()
        fee = 0.3 * 30.0 * 90 / (365.25 / 12)
        added = value_model.predict(snapshot) - value_model.predict(
            snapshot.assign(subscription_mrr=0.0)
        )
        np.testing.assert_allclose(added, np.where(members, fee, 0.0))
    targets = pd.read_parquet(root / "data/offers/targets.parquet")
    assert len(targets) == len(snapshot)


@pytest.fixture(scope="module")
def sparse_export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An export whose events hold no unsubscribe (a CRM that does not log them), built with the
    ``rfm`` feature family switched off."""
    root = tmp_path_factory.mktemp("sparse")

    def without_unsubscribes(root: Path) -> None:
        shutil.copytree(root / "data/raw", root / "export", ignore=shutil.ignore_patterns("events"))
        events = pd.read_parquet(root / "data/raw/events")
        events = events[events["event_type"] != "email_unsubscribe"]
        events.to_parquet(root / "export/events.parquet", index=False)

    params = PARAMS | {
        "paths": {"raw_dir": "export"},
        "features": PARAMS["features"] | {"families": {"rfm": False}},
    }
    return root, run_stages(root, params, without_unsubscribes)


def test_an_export_without_unsubscribes_or_rfm_features_gets_a_policy(
    sparse_export: tuple[Path, dict[str, Any]],
) -> None:
    """Nobody unsubscribed is what the contact rules read (the stage used to refuse the export
    for lacking the unsubscribe column), and BG/NBD, which reads the RFM features, does not
    compete without them (it used to stop the stage with a KeyError)."""
    root, metrics = sparse_export
    snapshot = pd.read_parquet(root / "data/features/snapshot.parquet")
    assert "events_days_since_email_unsubscribe" not in snapshot.columns
    assert not any(column.startswith("rfm_") for column in snapshot.columns)

    policy = load_policy(root / "data/offers/policy")
    assert policy.unseen_event_types == ("email_unsubscribe",)
    assert policy.absent_tables == ()
    assert metrics["value"]["chosen"] == "gradient_boosting"
    assert "bg_nbd" not in metrics["value"]["models"]
    targets = pd.read_parquet(root / "data/offers/targets.parquet")
    assert len(targets) == len(snapshot)
    assert (targets["group"] != "none").any()


def test_campaign_report_of_a_subscriptions_export_reads_retention_from_subscriptions(
    subscription_export: tuple[Path, dict[str, Any]],
) -> None:
    root, _ = subscription_export
    first = sorted(pd.read_parquet(root / "export/offers")["campaign_id"].unique())[0]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = campaign_report.run(Config.load(root / "params.yaml"), first)

    per_offer = pd.DataFrame(result["per_offer"]).set_index("offer_id")
    assert 0 < per_offer.loc["any", "retention_control"] < 1
    assert per_offer.loc["any", "treated"] > 0
    report = (root / "data/campaigns" / first / "report.md").read_text()
    assert "Retained = a subscription still running on the first day after the horizon" in report


def test_only_the_events_family_makes_an_absent_event_column_mean_no_such_event() -> None:
    """Switched off, the family ignores events that exist: the contact rules then refuse to run
    rather than read every customer as never unsubscribed."""
    from pipeline.offers import _unrecorded

    config = Config.model_validate(PARAMS)
    snapshot = pd.DataFrame({"offers_received_365d": [0]})
    tables: dict[str, Any] = {"customers": None, "orders": None, "events": None}

    assert _unrecorded(tables, snapshot, config).event_types == ("email_unsubscribe",)
    assert _unrecorded(tables, snapshot, config).tables == ("offers",)
    families = config.features.families.model_copy(update={"events": False})
    events_off = config.model_copy(
        update={"features": config.features.model_copy(update={"families": families})}
    )
    assert _unrecorded(tables, snapshot, events_off).event_types == ()
    with_column = snapshot.assign(events_days_since_email_unsubscribe=[None])
    assert _unrecorded(tables, with_column, config).event_types == ()
    assert _unrecorded({"customers": None}, snapshot, config).tables == ("offers", "events")


def test_effect_features_the_champion_lacks_are_left_out_with_a_warning() -> None:
    """The default effect features need an events table (``loyalty_member``) and a discount
    column: an export without them must still fit the hazard learners on what remains."""
    from models.candidates import FeatureColumns
    from pipeline.offers import _with_usable_effect_features

    config = Config.model_validate(PARAMS)
    columns = FeatureColumns(numeric=("rfm_orders_365d", "rfm_spend_365d"), categorical=())

    with capture_logs() as logs:
        usable = _with_usable_effect_features(config, columns)

    assert usable.offers.effect_features == ["rfm_orders_365d"]
    assert [log["left_out"] for log in logs] == [["loyalty_member", "rfm_discount_share_365d"]]
    assert config.offers.effect_features == PARAMS["offers"]["effect_features"]  # not mutated
    everything = [*columns.all, "loyalty_member", "rfm_discount_share_365d"]
    whole = FeatureColumns(numeric=tuple(everything), categorical=())
    assert _with_usable_effect_features(config, whole) is config


def test_an_empty_catalogue_is_refused_without_naming_a_file_it_may_not_be(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The params may come from --params other.yaml: the message names the setting only."""
    config = Config.from_mapping({"offers": {"catalog": []}}, base_dir=tmp_path)

    with pytest.raises(typer.Exit):
        offers.run(config, require_reasons=False)

    message = capsys.readouterr().err
    assert "offers.catalog in the params file is empty" in message
    assert "params.yaml" not in message


def test_the_summary_line_gives_the_policy_share_of_the_oracle_as_a_percentage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    allocation = {"treatment": 9, "control": 1, "customers": 50, "planned_cost": 20.0}
    metrics: dict[str, Any] = {
        "allocation": allocation | {"budget": 20.0},
        "value": {"chosen": "bg_nbd"},
        "held_out": None,
        "truth": {
            "strategies": {"policy": {"net_gain": 45.15061}, "oracle": {"net_gain": 100.0}},
            "policy_share_of_oracle": 0.4515061352,
        },
    }

    offers._echo(metrics)
    metrics["truth"]["policy_share_of_oracle"] = None
    offers._echo(metrics)

    lines = capsys.readouterr().out.splitlines()
    assert lines[1].endswith('{"policy": 45.2, "oracle": 100.0}; policy/oracle 45.2%')
    assert lines[3].endswith("policy/oracle n/a (the oracle gains nothing)")


def test_a_catalogue_offer_the_synthetic_world_never_had_skips_the_truth_comparison(
    tmp_path: Path,
) -> None:
    """An offer added to ``offers.catalog`` has no true effect in ``data/truth``: the stage
    used to fit everything, then stop on a KeyError at the comparison."""
    from pipeline.offers import _truth_comparison

    folder = tmp_path / "data/truth/churn_probabilities"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "customer_id": ["C1"],
            "cutoff_date": [pd.Timestamp("2024-06-01")],
            "p_churn_no_offer": [0.5],
            **{f"p_churn_{offer['id']}": [0.4] for offer in CATALOG},
        }
    ).to_parquet(folder / "part-0.parquet")
    catalog = [*CATALOG, {"id": "gift_card", "unit_cost": 5.0}]
    config = Config.from_mapping({"offers": {"catalog": catalog}}, base_dir=tmp_path)
    snapshot = pd.DataFrame({"customer_id": ["C1"]})

    with capture_logs() as logs:
        compared = _truth_comparison(
            config, snapshot, None, dt.date(2024, 6, 1), np.array([0.5]), None, np.array([0])
        )

    assert compared is None
    [warning] = [log for log in logs if log["log_level"] == "warning"]
    assert warning["offers"] == ["gift_card"]
