from __future__ import annotations

import datetime as dt

import pandas as pd

from core.config import CampaignConfig, GenerateConfig
from synthetic.campaigns import campaign_schedule, effect_weeks
from synthetic.timeline import Timeline, date_to_us
from tests.synthetic.conftest import World


def test_schedule_runs_every_n_days_after_the_start() -> None:
    config = GenerateConfig(
        start_date=dt.date(2023, 1, 1),
        end_date=dt.date(2024, 1, 1),
        campaigns=CampaignConfig(every_days=100),
    )
    schedule = campaign_schedule(config, Timeline.from_config(config))
    assert [campaign.campaign_id for campaign in schedule] == [
        "CMP-20230411",
        "CMP-20230720",
        "CMP-20231028",
    ]
    assert schedule[0].day_us == date_to_us(dt.date(2023, 4, 11))
    assert schedule[0].week == 100 // 7
    assert effect_weeks(config) == 13


def test_every_campaign_reaches_about_the_configured_share(
    world: World, tables: dict[str, pd.DataFrame]
) -> None:
    offers = tables["offers"]
    schedule = campaign_schedule(world.config, Timeline.from_config(world.config))
    assert sorted(offers["campaign_id"].unique()) == [c.campaign_id for c in schedule]
    per_campaign = offers.groupby("campaign_id").size()
    assert per_campaign.min() > 0.02 * world.config.n_customers
    offer_share = offers["offer_id"].value_counts(normalize=True)
    assert (offer_share - 1 / 3).abs().max() < 0.03


def test_the_logged_experiments_reveal_who_an_offer_helps_and_who_it_hurts(
    tables: dict[str, pd.DataFrame],
) -> None:
    """What an uplift model can learn from the log: the true effect shows in treated vs control."""
    truth = tables["truth_customers"].set_index("customer_id")
    offers = tables["offers"].join(truth, on="customer_id")
    offers = offers[
        (offers["churn_ts"].isna() | (offers["churn_ts"] > offers["sent_ts"]))
        & (offers["sent_ts"] < pd.Timestamp("2024-10-01"))
    ]
    effect = pd.Series(0.0, index=offers.index)
    for offer_id in offers["offer_id"].unique():
        sent = offers["offer_id"] == offer_id
        effect[sent] = offers.loc[sent, f"offer_effect_{offer_id}"]
    churned = offers["churn_ts"] < offers["sent_ts"] + pd.Timedelta(days=90)
    treated = offers["group"] == "treatment"

    def treated_minus_control(rows: pd.Series) -> float:
        return churned[rows & treated].mean() - churned[rows & ~treated].mean()

    helps, hurts = effect < -0.4, effect > 0.0
    assert helps.sum() > 500 and hurts.sum() > 500
    assert treated_minus_control(helps) < -0.03
    assert treated_minus_control(hurts) > treated_minus_control(helps) + 0.05
