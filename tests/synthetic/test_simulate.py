from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import GenerateConfig
from synthetic.simulate import simulate_chunk
from synthetic.state import NEVER_US
from synthetic.timeline import DAY_US, WEEK_US, Timeline
from synthetic.traits import draw_traits

RESIDUE_EVENTS = {"email_sent", "email_open", "email_unsubscribe"}


def _with_churn(frame: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    churn = tables["truth_customers"].set_index("customer_id")["churn_ts"]
    return frame.assign(churn_ts=frame["customer_id"].map(churn))


def test_churned_customers_stop_buying_and_go_quiet(tables: dict[str, pd.DataFrame]) -> None:
    orders = _with_churn(tables["orders"], tables)
    assert not (orders["order_ts"] >= orders["churn_ts"]).any()
    tickets = _with_churn(tables["support_tickets"], tables)
    assert not (tickets["opened_ts"] >= tickets["churn_ts"]).any()
    events = _with_churn(tables["events"], tables)
    after = events[events["ts"] >= events["churn_ts"]]
    assert set(after["event_type"]) == RESIDUE_EVENTS


def test_residue_mail_is_rarely_opened(tables: dict[str, pd.DataFrame]) -> None:
    events = _with_churn(tables["events"], tables)
    after_churn = events["ts"] >= events["churn_ts"]

    def open_rate(mask: pd.Series) -> float:
        kinds = events.loc[mask, "event_type"]
        return (kinds == "email_open").sum() / (kinds == "email_sent").sum()

    assert open_rate(after_churn) < 0.05
    assert open_rate(~after_churn) > 0.15


def test_many_but_not_all_customers_churn_over_two_years(
    tables: dict[str, pd.DataFrame],
) -> None:
    churned = tables["truth_customers"]["churn_ts"].notna().mean()
    assert 0.3 < churned < 0.85


def test_engagement_falls_before_churn(tables: dict[str, pd.DataFrame]) -> None:
    """The quarter before leaving shows fewer e-mail opens per mail than an earlier quarter."""
    events = _with_churn(tables["events"], tables)
    events = events[events["churn_ts"].notna() & (events["ts"] < events["churn_ts"])]
    weeks_before = (events["churn_ts"] - events["ts"]).dt.days // 7
    late = events[weeks_before < 13]["event_type"].value_counts()
    early = events[(weeks_before >= 26) & (weeks_before < 39)]["event_type"].value_counts()
    assert late["email_open"] / late["email_sent"] < 0.9 * early["email_open"] / early["email_sent"]


def _chunk_churn(base_weekly_hazard: float) -> tuple[np.ndarray, np.ndarray]:
    config = GenerateConfig(n_customers=300, base_weekly_hazard=base_weekly_hazard)
    timeline = Timeline.from_config(config)
    rng = np.random.default_rng(3)
    traits = draw_traits(rng, 300, config, timeline)
    history = simulate_chunk(rng, traits, config, timeline, cutoffs_us=[])
    return traits.signup_us, history.churn_us


def test_a_huge_hazard_makes_everyone_leave_within_weeks_of_signing_up() -> None:
    signup_us, churn_us = _chunk_churn(0.99)
    assert (churn_us >= signup_us).all()
    assert np.median(churn_us - signup_us) < 2 * WEEK_US


def test_a_negligible_hazard_keeps_everyone() -> None:
    _, churn_us = _chunk_churn(1e-9)
    assert (churn_us == NEVER_US).all()


def test_signups_spread_over_the_span_with_an_early_cohort(
    tables: dict[str, pd.DataFrame],
) -> None:
    signup = pd.to_datetime(tables["customers"]["signup_date"])
    start = signup.min()
    first_four_weeks = (signup < start + pd.Timedelta(days=28)).mean()
    assert 0.3 < first_four_weeks < 0.4
    assert (signup >= pd.Timestamp("2024-07-01")).mean() > 0.15
    assert np.ptp(signup.to_numpy().astype("datetime64[us]").astype(np.int64)) > 600 * DAY_US
