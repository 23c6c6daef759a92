"""DVC stage ``train``: tune, calibrate and track every candidate; register the winner; gate it.

Reads ``paths.features_dir``; writes ``paths.models_dir`` (a DVC output) and, outside DVC, the
MLflow tracking store (``mlflow.db`` + ``mlruns/`` by default, or ``MLFLOW_TRACKING_URI``):

* one parent MLflow run per execution with a nested run per candidate (params, metrics per
  split, plots, the model with signature and input example), the git commit and the DVC hash of
  the feature data as tags;
* the winner (best on the validation cutoff) registered as a new version with alias
  ``challenger``; alias ``champion`` moves to it only if the gate says so;
* ``models_dir``: ``registered.json`` (versions, split, winner, feature columns),
  ``promotion.json`` (the gate's decision and numbers), ``training.json`` (every candidate's
  metrics and trials), each candidate's model and the champion's model in MLflow's folder
  format, for ``churn evaluate``. Against a fresh registry, the same data and params give the
  same bytes; run ids and timings are in MLflow (the parent run's ``registered.json`` artifact
  lists the runs).

The registry is state shared across runs (like a team server), so it is not a DVC output: DVC
would delete and restore it per commit. DVC tracks what this run decided instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import typer
from xgboost.core import XGBoostError

from core.atomic import atomic_dir, write_json
from core.config import Config
from core.layout import REGISTERED_FILE, TRAINING_FILE
from core.logging import first_line, get_logger
from core.names import SettingNameError
from models import tracking
from models.candidates import CandidateError, FeatureColumns, feature_columns, model_inputs
from models.gate import PromotionDecision, decide_promotion
from models.split import (
    LABEL,
    SplitError,
    SplitFrames,
    check_both_classes,
    plan_split,
    split_frame,
)
from models.training import CandidateResult, MetricSettings, pick_winner, score_rows
from models.training import train_candidate as fit_and_score
from pipeline.errors import fail
from pipeline.provenance import provenance
from pipeline.recorded import load_training, release_arrow_memory

_log = get_logger(__name__)

CHALLENGER, CHAMPION = "challenger", "champion"
RUN_SPECIFIC = ("parent_run_id", "candidate_runs", "model_uri")
"""Keys of the run summary that name MLflow runs and models: new ids on every run, so they are
kept out of ``models_dir``'s ``registered.json`` (the parent run's copy keeps them)."""


def run(config: Config) -> dict[str, Any]:
    """Train, track, register and gate; return what ``registered.json`` holds."""
    frame = load_training(config.paths.features_dir)
    try:
        split = plan_split(
            pd.to_datetime(frame["cutoff_date"]).dt.date.unique(),
            config.churn.horizon_days,
            config.train.split.embargo,
        )
        frames = split_frame(frame, split)
        check_both_classes(frames, split)
    except SplitError as error:
        fail(str(error))
    data_end = _data_end(frame, config)
    # The split copied the rows it keeps. The whole table, as large as a fit's own working set,
    # would otherwise stay resident through every fit: free it before the first.
    del frame
    release_arrow_memory()
    # a column needs values where models learn
    excluded = config.train.exclude_features
    try:
        columns = feature_columns(frames.train, excluded)
    except SettingNameError as error:
        fail(str(error), code=2)
    except CandidateError as error:
        left_out = f" once train.exclude_features {excluded} are left out" if excluded else ""
        fail(
            f"{config.paths.features_dir / TRAINING_FILE}, {len(frames.train):,} training rows: "
            f"{error}{left_out}"
        )
    settings = MetricSettings.of(config)
    tracking.configure(config.mlflow)
    with tracking.parent_run("train", provenance(config)) as parent_run_id:
        tracking.log_params(
            {"seed": config.seed, "train": config.train.model_dump(), "split": split.as_dict()}
        )
        tracking.log_params({"economics": config.economics.model_dump()})
        tracking.log_params(  # what the rows mean: two runs on other labels or features differ
            {
                "churn": config.churn.model_dump(),
                "features": config.features.model_dump(
                    include={"snapshot_date", "history_days", "cutoffs", "families"}
                ),
            }
        )
        results, logged = [], []
        for candidate in config.train.candidates:
            _log.info("training candidate", name=candidate.name, kind=candidate.kind)
            try:
                result = fit_and_score(
                    candidate, frames, columns, config.train, settings, config.seed
                )
            except (CandidateError, ValueError, XGBoostError) as error:
                # params the estimator refuses only once it fits (a text max_depth, C: abc)
                fail(
                    f"train.candidates {candidate.name!r} ({candidate.kind}) cannot be fitted "
                    f"with params {candidate.params}: {first_line(error)}"
                )
            results.append(result)
            logged.append(_log_candidate(result, frames, columns, settings))
            _log.info("candidate done", name=result.name, seconds=round(result.train_seconds, 1))
        winner = pick_winner(results)
        winner_logged = next(item for item in logged if item.name == winner.name)
        for result in results:
            tracking.log_metrics(result.test_metrics, prefix=f"{result.name}.test_")
        tracking.log_metrics(winner.test_metrics, prefix="winner.test_")
        decision, summary, champion = _register_and_gate(
            config, winner, winner_logged, frames, columns
        )
        summary |= {
            "parent_run_id": parent_run_id,
            "candidate_runs": {item.name: item.run_id for item in logged},
            "split": split.as_dict(),
            "feature_columns": columns.as_dict(),
        }
        tracking.log_json(summary, REGISTERED_FILE)
        # Still inside the run: a failure from here on marks it FAILED, so MLflow never shows a
        # finished run whose gate promoted a model that did not become champion.
        if decision.promote:
            _refuse_if_the_champion_moved(summary)
        try:
            _write_outputs(
                config,
                results,
                champion,
                decision,
                summary,
                frames,
                columns,
                data_end,
            )
        except OSError as error:
            fail(
                f"cannot write {config.paths.models_dir}: {first_line(error)}; the challenger "
                f"v{summary['challenger_version']} is registered, the champion alias not moved"
            )
        if decision.promote:
            # Last: a stage that fails before here leaves the registry's champion and data/models
            # (what the offers stage and DVC see) telling the same story.
            tracking.set_alias(summary["registered_model"], CHAMPION, summary["challenger_version"])
    typer.echo(f"{'PROMOTED' if decision.promote else 'KEPT CHAMPION'}: {decision.reason}")
    return summary


def _refuse_if_the_champion_moved(summary: dict[str, Any]) -> None:
    """Stop before writing anything when another run moved the champion alias while this one
    trained: the gate compared with a champion that is no longer the one it would replace.

    A check, not a lock: two runs promoting within the moment between this read and the alias
    move can still both move it (the registry has no compare-and-set). It closes the window
    of a whole training run down to that moment.
    """
    name, compared = summary["registered_model"], summary["previous_champion_version"]
    current = tracking.version_by_alias(name, CHAMPION)
    now = None if current is None else str(current.version)
    if now != compared:

        def named(version: str | None) -> str:
            return "no version" if version is None else f"v{version}"

        fail(
            f"the '{CHAMPION}' alias of {name} moved from {named(compared)} to {named(now)} "
            f"while this run trained; the challenger v{summary['challenger_version']} is "
            f"registered but not promoted, and {CHAMPION} stays {named(now)}. Rerun to compare "
            "with it"
        )


def _data_end(frame: pd.DataFrame, config: Config) -> dt.datetime:
    """Where the training data ends: the latest cutoff's label horizon end (00:00 UTC)."""
    latest = pd.Timestamp(frame["cutoff_date"].max()).to_pydatetime()
    return latest + dt.timedelta(days=config.churn.horizon_days)


def _log_candidate(
    result: CandidateResult, frames: SplitFrames, columns: FeatureColumns, settings: MetricSettings
) -> tracking.LoggedCandidate:
    return tracking.log_candidate(
        name=result.name,
        model=result.model,
        params={"kind": result.kind, **result.params},
        metrics={"validation": result.validation_metrics, "test": result.test_metrics},
        details={
            "fitted": result.fitted,
            "trials": result.tuning.trials,
            "train_seconds": result.train_seconds,
        },
        inputs=model_inputs(frames.test, columns),
        labels=frames.test[LABEL].to_numpy(dtype=int),
        economics=settings.economics,
    )


def _other_features(model: Any, columns: FeatureColumns, version: str) -> str | None:
    """Why ``model`` cannot be compared on the current rows: it was trained on other feature
    columns (a family switched on or off, a new event type); ``None`` when the columns match."""
    trained_on = set(getattr(model, "feature_names_in_", columns.all))
    built = set(columns.all)
    if trained_on == built:
        return None
    return (
        f"champion v{version} was trained on other features ({len(trained_on - built)} no "
        f"longer built, {len(built - trained_on)} new), so it cannot score the test cutoff"
    )


def label_tags(config: Config) -> dict[str, str]:
    """The churn definition a model is trained for, as registry tags of its version."""
    churn = config.churn
    return {
        "churn.definition": churn.definition,
        "churn.horizon_days": str(churn.horizon_days),
        "churn.lookback_days": str(churn.lookback_days),
    }


def _other_label(tags: Mapping[str, str], label: Mapping[str, str], version: str) -> str | None:
    """Why the champion cannot be compared: it predicts another churn label (another horizon,
    look-back or definition), so its probabilities mean something else on the test cutoff;
    ``None`` when the label matches or the version predates these tags."""
    differing = {
        key: (tags[key], value)
        for key, value in label.items()
        if key in tags and tags[key] != value
    }
    if not differing:
        return None
    shown = ", ".join(f"{key} {old} vs {new}" for key, (old, new) in differing.items())
    return f"champion v{version} was trained for another churn label ({shown})"


def _register_and_gate(
    config: Config,
    winner: CandidateResult,
    logged: tracking.LoggedCandidate,
    frames: SplitFrames,
    columns: FeatureColumns,
) -> tuple[PromotionDecision, dict[str, Any], Any]:
    """Register the winner as challenger, compare it with the champion on the test cutoff.

    Returns the decision, ``registered.json``'s content and the model that is champion after
    it: the winner when promoted, else the champion loaded for the comparison.
    """
    name = config.mlflow.registered_model
    champion = tracking.version_by_alias(name, CHAMPION)
    label = label_tags(config)
    version = tracking.register(logged.model_uri, name, {"candidate": winner.name, **label})
    tracking.set_alias(name, CHALLENGER, version)
    champion_metrics, unusable, champion_model = None, None, None
    if champion is not None:
        # Fail closed: a champion that cannot be loaded (store outage, corrupt artefact) stops
        # the stage; only a champion built on another feature set is promoted over unchecked.
        try:
            champion_model = tracking.load_model(name, version=str(champion.version))
        except Exception as error:
            fail(
                f"cannot load the champion, v{champion.version} of {name}, to compare "
                f"with ({error}); the challenger v{version} is registered but not promoted. "
                f"Fix the tracking store (or move the '{CHAMPION}' alias on purpose) and rerun"
            )
        unusable = _other_label(champion.tags, label, champion.version) or _other_features(
            champion_model, columns, champion.version
        )
        if unusable is None:
            champion_metrics = score_rows(
                champion_model, frames.test, columns, MetricSettings.of(config)
            )
    decision = decide_promotion(
        winner.test_metrics, champion_metrics, config.train.primary_metric, config.train.gate
    )
    if unusable is not None:
        decision = dataclasses.replace(decision, reason=f"{unusable[:300]}; promoted")
    tracking.log_metrics(
        {
            "gate.promote": float(decision.promote),
            "gate.challenger_primary": decision.challenger_primary,
            "gate.challenger_ece": decision.challenger_ece,
            **({"gate.champion_primary": decision.champion_primary} if champion_metrics else {}),
            **({"gate.champion_ece": decision.champion_ece} if champion_metrics else {}),
        }
    )
    tracking.log_json(decision.as_dict(), "promotion.json")
    champion_version = version if decision.promote else str(champion.version)  # type: ignore[union-attr]
    champion_after = winner.model if decision.promote else champion_model
    return (
        decision,
        {
            "registered_model": name,
            "challenger_version": version,
            "champion_version": champion_version,
            "previous_champion_version": None if champion is None else str(champion.version),
            "winner": {"name": winner.name, "kind": winner.kind, "params": winner.params},
            "model_uri": logged.model_uri,
        },
        champion_after,
    )


def _write_outputs(
    config: Config,
    results: list[CandidateResult],
    champion: Any,
    decision: PromotionDecision,
    summary: dict[str, Any],
    frames: SplitFrames,
    columns: FeatureColumns,
    data_end: dt.datetime,
) -> None:
    """``models_dir``: the same data and params give the same bytes (against a fresh registry).

    What changes from run to run stays in MLflow: run ids, model ids and timings are left out of
    the JSON files here (the copy logged to the parent run keeps them), and the saved models are
    stamped with ``data_end`` (:func:`models.tracking.save_model`).
    """
    inputs = model_inputs(frames.test.head(100), columns)
    stable = {key: value for key, value in summary.items() if key not in RUN_SPECIFIC}
    with atomic_dir(config.paths.models_dir) as folder:
        write_json(folder / REGISTERED_FILE, stable)
        write_json(folder / "promotion.json", decision.as_dict())
        write_json(folder / "training.json", {result.name: _describe(result) for result in results})
        for result in results:
            save_to = folder / "candidates" / result.name
            tracking.save_model(result.model, save_to, inputs, data_end)
        # Kept, the champion (as loaded from the registry for the gate) is saved the same way as
        # a promoted one: a copy of the registry's folder held run and model ids and the clock,
        # and other files, so data/models' bytes depended on the gate's decision.
        tracking.save_model(champion, folder / "champion", inputs, data_end)
    _log.info("models written", folder=str(config.paths.models_dir))


def _describe(result: CandidateResult) -> dict[str, Any]:
    return json.loads(
        json.dumps(
            {
                "kind": result.kind,
                "params": result.params,
                "fitted": result.fitted,
                "selection_score": result.selection_score,
                "validation": result.validation_metrics,
                "test": result.test_metrics,
                "trials": result.tuning.trials,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    import sys

    from pipeline.cli import app

    app(["train", *sys.argv[1:]])
