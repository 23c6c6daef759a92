"""Fit and evaluate the parts of the policy: uplift learners on past campaigns, value models on
held-out spend, then the policy itself from the winners. Functions of DataFrames and config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.config import OffersConfig
from core.logging import get_logger
from models.candidates import FeatureColumns
from offers.campaigns import CampaignSplit
from offers.policy import OfferPolicy
from offers.qini import qini_curve
from offers.reach import ReachDataError, ReachHazardUplift
from offers.uplift import UpliftDataError, UpliftLearner, make_learner
from offers.value import BgNbdValue, GradientBoostingValue, value_metrics

_log = get_logger(__name__)

RISK_BASELINE = "risk_ranking"
VALUE_MODELS = ("gradient_boosting", "bg_nbd")
BOOTSTRAP_ROUNDS = 200
"""Bootstrap resamples of the held-out rows behind every interval the offers stage reports on
them: Qini(model) - Qini(risk) here, the rules' net gains in ``offers.held_out``."""


@dataclass(frozen=True)
class UpliftEvaluation:
    """Qini coefficient and AUUC per offer and scorer on the held-out campaigns, and curves."""

    metrics: dict[str, dict[str, dict[str, float]]]
    curves: dict[str, pd.DataFrame]
    best_learner: str
    skipped: dict[str, str] = field(default_factory=dict)
    """Learners the campaign data cannot support (e.g. too few redemptions), with the reason."""
    holdout_uplift: dict[str, np.ndarray] = field(default_factory=dict)
    """Each learner's predicted uplift (held-out rows × offers), fitted without those rows."""


def fit_uplift(
    kind: str, rows: pd.DataFrame, columns: FeatureColumns, config: OffersConfig, seed: int
) -> UpliftLearner:
    """Learner ``kind`` fitted on campaign rows (``treatment_offer``, ``churned`` and the churn
    model's ``churn_probability`` at the send date; ``redeemed`` for ``reach_hazard``)."""
    model = make_learner(
        kind,
        [offer.id for offer in config.catalog],
        columns,
        config.xgboost,
        seed,
        config.hazard_l2,
        config.effect_features,
        config.hazard_baseline,
    )
    outcome = (rows["treatment_offer"], rows["churned"], rows["churn_probability"].to_numpy())
    if isinstance(model, ReachHazardUplift):
        if "redeemed" not in rows.columns:
            raise ReachDataError(
                f"campaign rows ({len(rows)}): no `redeemed` column; the offers log needs "
                "redeemed_ts for the reach_hazard learner"
            )
        return model.fit(rows, *outcome, redeemed=rows["redeemed"].to_numpy())
    return model.fit(rows, *outcome)


def evaluate_uplift(
    split: CampaignSplit,
    holdout_churn_probability: np.ndarray,
    columns: FeatureColumns,
    config: OffersConfig,
    seed: int,
) -> UpliftEvaluation:
    """Each learner fitted on the earlier campaigns and ranked on the held-out ones, per offer,
    against ranking by churn risk (the champion's probability) on the same rows, with a 95%
    paired-bootstrap interval of the Qini difference (is the learner really better?)."""
    holdout = split.holdout
    scores: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for kind in config.learners:
        try:
            model = fit_uplift(kind, split.fit, columns, config, seed)
        except (ReachDataError, UpliftDataError) as error:
            # A small or young offers log (or a new offer with few sends) may not support every
            # learner; the others still can be compared. Asked for by name (offers.learner), it
            # fails later in fit_policy.
            _log.warning("uplift learner skipped", learner=kind, reason=str(error))
            skipped[kind] = str(error)
            continue
        scores[kind] = model.predict(holdout, holdout_churn_probability)
    if not scores:
        raise ReachDataError(
            f"no uplift learner of {config.learners} could be fitted on "
            f"{len(split.fit)} campaign rows: {skipped}"
        )
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    curves: dict[str, pd.DataFrame] = {}
    control = holdout["treatment_offer"].isna().to_numpy()
    retained = 1.0 - holdout["churned"].to_numpy(dtype=float)
    for k, offer in enumerate(config.catalog):
        rows = control | (holdout["treatment_offer"] == offer.id).to_numpy()
        treated = ~control[rows]
        if treated.all() or not treated.any():
            # An offer the held-out campaigns did not send (or sent to everyone) cannot be
            # ranked there; the learner is chosen on the offers that can.
            _log.warning(
                "offer not evaluated on held-out campaigns",
                offer=offer.id,
                treated=int(treated.sum()),
                control=int((~treated).sum()),
            )
            continue
        per_scorer = {name: score[rows, k] for name, score in scores.items()}
        per_scorer[RISK_BASELINE] = holdout_churn_probability[rows]
        curve = pd.DataFrame()
        metrics[offer.id] = {}
        rng = np.random.default_rng(seed)
        resamples = [
            rng.integers(0, int(rows.sum()), int(rows.sum())) for _ in range(BOOTSTRAP_ROUNDS)
        ]
        risk_boot = _bootstrap_qini(per_scorer[RISK_BASELINE], treated, retained[rows], resamples)
        for name, score in per_scorer.items():
            result = qini_curve(score, treated, retained[rows], config.qini_points)
            metrics[offer.id][name] = {
                "qini": result.qini_coefficient,
                "auuc": result.auuc,
            }
            if name != RISK_BASELINE:
                difference = _bootstrap_qini(score, treated, retained[rows], resamples) - risk_boot
                low, high = np.nanpercentile(difference, [2.5, 97.5])
                metrics[offer.id][name] |= {
                    "qini_minus_risk_ci_low": float(low),
                    "qini_minus_risk_ci_high": float(high),
                }
            curve["share"] = result.curve["share"]
            curve[name] = result.curve["qini"]
        metrics[offer.id]["rows"] = {
            "treated": int(treated.sum()),
            "control": int((~treated).sum()),
        }
        # A skipped learner keeps its (empty) column, so every curve file has the columns the
        # plots in dvc.yaml name, whichever learners a small offers log supports.
        curves[offer.id] = curve.reindex(columns=["share", *config.learners, RISK_BASELINE])
    if not metrics:
        raise UpliftDataError(_nothing_to_rank(holdout, split.holdout_campaigns, config))
    best = _best_learner(metrics, list(scores))
    return UpliftEvaluation(metrics, curves, best, skipped, scores)


def _nothing_to_rank(holdout: pd.DataFrame, campaigns: list[str], config: OffersConfig) -> str:
    """Why no catalogue offer can be ranked on the held-out campaigns, with what to do."""
    catalog = [offer.id for offer in config.catalog]
    control = int(holdout["treatment_offer"].isna().sum())
    sends = {offer: int((holdout["treatment_offer"] == offer).sum()) for offer in catalog}
    if control == 0:
        advice = (
            "they hold no control rows (group = control): without a randomised control group no "
            "effect can be measured, so log each campaign's control group"
        )
    elif not any(sends.values()):
        advice = (
            "they sent no catalogue offer: check that the ids in offers.catalog are the offer_id "
            "values of the offers log"
        )
    else:
        advice = "raise offers.holdout_campaigns or wait for more campaigns"
    return (
        f"no offer of {catalog} has both sent and held-out customers in the held-out campaigns "
        f"{campaigns} ({len(holdout)} rows: {control} control, sends {sends}): nothing to rank "
        f"the uplift learners on; {advice}"
    )


def _bootstrap_qini(
    score: np.ndarray, treated: np.ndarray, retained: np.ndarray, resamples: list[np.ndarray]
) -> np.ndarray:
    """Qini coefficient on each bootstrap resample of the rows (the same resamples for every
    scorer, so differences between scorers are paired); NaN where a resample lacks an arm."""
    values = []
    for index in resamples:
        arm = treated[index]
        if arm.all() or not arm.any():
            values.append(np.nan)
            continue
        values.append(qini_curve(score[index], arm, retained[index], 3).qini_coefficient)
    return np.asarray(values)


def _best_learner(metrics: dict[str, dict[str, dict[str, float]]], learners: list[str]) -> str:
    """The learner with the highest Qini coefficient averaged over the offers."""
    mean_qini = {
        kind: float(np.mean([per_offer[kind]["qini"] for per_offer in metrics.values()]))
        for kind in learners
    }
    return max(learners, key=lambda kind: mean_qini[kind])


def compare_value_models(
    training: pd.DataFrame,
    margin: pd.Series,
    columns: FeatureColumns,
    config: OffersConfig,
    horizon_days: int,
    seed: int,
    kinds: tuple[str, ...] = VALUE_MODELS,
) -> tuple[str, dict[str, dict[str, float]]]:
    """The value models ``kinds`` fitted on earlier cutoffs, scored on the latest cutoff's stayers.

    Fitted only on cutoffs whose margin window ends by the latest cutoff: a cutoff 30 days
    earlier shares 60 of the test window's 90 days of the same customers' spend, which flatters
    the model that learns margins (gradient boosting) and not the one that does not (BG/NBD).
    Returns the winner by RMSE (the policy multiplies values into expected gains, so the mean
    matters more than ranks) and every model's metrics.
    """
    stayed = ~training["churned"].astype(bool)
    cutoffs = pd.to_datetime(training["cutoff_date"])
    latest = cutoffs == cutoffs.max()
    window_ended = cutoffs + pd.Timedelta(days=horizon_days) <= cutoffs.max()
    fit_rows = stayed & window_ended
    test_rows = stayed & latest
    models = {
        kind: _fit_value_model(
            kind, training[fit_rows], margin[fit_rows], columns, config, horizon_days, seed
        )
        for kind in kinds
    }
    metrics = {
        name: value_metrics(margin[test_rows], model.predict(training[test_rows]))
        for name, model in models.items()
    }
    metrics["test_rows"] = {
        "rows": int(test_rows.sum()),
        "mean_margin": float(margin[test_rows].mean()),
    }
    winner = min(models, key=lambda name: metrics[name]["rmse"])
    return winner, metrics


def fit_value(
    kind: str,
    training: pd.DataFrame,
    margin: pd.Series,
    columns: FeatureColumns,
    config: OffersConfig,
    horizon_days: int,
    seed: int,
) -> Any:
    """The chosen value model refitted on every cutoff's stayers."""
    stayed = ~training["churned"].astype(bool)
    return _fit_value_model(
        kind, training[stayed], margin[stayed], columns, config, horizon_days, seed
    )


def _fit_value_model(
    kind: str,
    rows: pd.DataFrame,
    margin: pd.Series,
    columns: FeatureColumns,
    config: OffersConfig,
    horizon_days: int,
    seed: int,
) -> Any:
    if kind == "gradient_boosting":
        return GradientBoostingValue(columns, seed).fit(rows, margin)
    return BgNbdValue(horizon_days, config.gross_margin).fit(rows)


def fit_policy(
    learner: str,
    campaign_rows: pd.DataFrame,
    value_model: Any,
    value_kind: str,
    columns: FeatureColumns,
    config: OffersConfig,
    seed: int,
    absent_tables: tuple[str, ...] = (),
    unseen_event_types: tuple[str, ...] = (),
) -> OfferPolicy:
    """The policy: ``learner`` refitted on every observed campaign, and the value model."""
    uplift = fit_uplift(learner, campaign_rows, columns, config, seed)
    return OfferPolicy(
        config, columns, uplift, value_model, value_kind, absent_tables, unseen_event_types
    )
