"""Which rows the offers stage's learners and value models are fitted and judged on."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from offers import fitting
from offers.campaigns import CampaignSplit
from offers.fitting import UpliftEvaluation, compare_value_models, evaluate_uplift
from offers.uplift import UpliftDataError
from tests.offers.frames import TOY_COLUMNS, offers_config, toy_campaign


def evaluate(fit: pd.DataFrame, holdout: pd.DataFrame, learners: list[str]) -> UpliftEvaluation:
    """The toy campaign's learners judged on ``holdout`` after fitting on ``fit``."""
    return evaluate_uplift(
        CampaignSplit(fit, holdout, ["A"], ["B"], pd.concat([fit, holdout], ignore_index=True)),
        holdout["churn_probability"].to_numpy(),
        TOY_COLUMNS,
        offers_config(learners=learners),
        seed=0,
    )


def without_de_only(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["treatment_offer"] != "de_only"].reset_index(drop=True)


def test_an_offer_the_held_out_campaigns_did_not_send_is_left_out_of_the_ranking() -> None:
    rows, _, _ = toy_campaign(3000, seed=1)

    evaluation = evaluate(rows.iloc[:2000], without_de_only(rows.iloc[2000:]), ["hazard_ratio"])

    assert set(evaluation.metrics) == {"cheap", "members"}
    assert evaluation.best_learner == "hazard_ratio"


def test_a_learner_an_offer_new_to_the_fit_campaigns_defeats_is_skipped_by_name() -> None:
    rows, _, _ = toy_campaign(3000, seed=1)
    holdout = rows.iloc[2000:].reset_index(drop=True)

    evaluation = evaluate(without_de_only(rows.iloc[:2000]), holdout, ["t_learner", "hazard_ratio"])

    assert evaluation.best_learner == "hazard_ratio"
    assert "0 treated with de_only rows" in evaluation.skipped["t_learner"]
    # its Qini curve column stays, empty: the plots in dvc.yaml name every learner's column
    for curve in evaluation.curves.values():
        assert list(curve.columns) == ["share", "t_learner", "hazard_ratio", "risk_ranking"]
        assert curve["t_learner"].isna().all()
        assert curve["hazard_ratio"].notna().all()


def test_value_models_are_fitted_only_on_cutoffs_whose_margin_window_has_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    latest = dt.date(2024, 12, 1)
    cutoffs = [latest - dt.timedelta(days=30 * step) for step in range(6)]
    training = pd.DataFrame(
        {
            "cutoff_date": np.repeat(cutoffs, 20),
            "churned": False,
            "rfm_orders_365d": 2.0,
        }
    )
    margin = pd.Series(np.linspace(1.0, 50.0, len(training)))
    fitted_on: dict[str, set[dt.date]] = {}

    class Mean:
        def __init__(self, value: float) -> None:
            self.value = value

        def predict(self, rows: pd.DataFrame) -> np.ndarray:
            return np.full(len(rows), self.value)

    def record(kind: str, rows: pd.DataFrame, margin: pd.Series, *_: object) -> Mean:
        fitted_on[kind] = set(rows["cutoff_date"])
        return Mean(float(margin.mean()))

    monkeypatch.setattr(fitting, "_fit_value_model", record)
    compare_value_models(training, margin, TOY_COLUMNS, offers_config(), 90, seed=0)

    # 90-day windows: the cutoffs 30 and 60 days before the latest overlap its window
    assert fitted_on["gradient_boosting"] == set(cutoffs[3:])
    assert fitted_on["bg_nbd"] == set(cutoffs[3:])


def test_held_out_campaigns_nothing_can_be_ranked_on_say_why() -> None:
    """No control group, or offer ids the catalogue does not know: the error names the cause,
    not "wait for more campaigns"."""
    rows, _, _ = toy_campaign(3000, seed=1)
    fit, holdout = rows.iloc[:2000], rows.iloc[2000:].reset_index(drop=True)
    no_control = holdout[holdout["treatment_offer"].notna()].reset_index(drop=True)
    renamed = holdout.assign(
        treatment_offer=holdout["treatment_offer"].map(
            {"cheap": "CHEAP", "members": "MEMBERS", "de_only": "DE"}
        )
    )

    with pytest.raises(UpliftDataError, match=r"0 control.*hold no control rows"):
        evaluate(fit, no_control, ["hazard_ratio"])
    with pytest.raises(
        UpliftDataError, match=r"sends \{'cheap': 0, 'members': 0, 'de_only': 0\}.*offer_id values"
    ):
        evaluate(fit, renamed, ["hazard_ratio"])
