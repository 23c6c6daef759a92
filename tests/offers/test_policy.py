from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from offers.allocation import NO_OFFER
from offers.policy import GainTable, OfferPolicy, PolicyLoadError, load_policy, save_policy
from offers.rules import eligibility_matrix
from offers.targets import allocate_campaign, attach_reasons, crm_import, target_frame
from offers.uplift import make_learner
from tests.offers.frames import TOY_COLUMNS, offers_config, toy_campaign


class ConstantValue:
    """A value model stand-in: every customer worth the same margin."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return np.full(len(features), self.value)


@pytest.fixture(scope="module")
def policy() -> OfferPolicy:
    rows, p0, _ = toy_campaign(8_000, seed=5)
    config = offers_config(value_periods=1.0)
    model = make_learner("hazard_ratio", [o.id for o in config.catalog], TOY_COLUMNS)
    model.fit(rows, rows["treatment_offer"], rows["churned"], p0)
    return OfferPolicy(config, TOY_COLUMNS, model, ConstantValue(50.0), "constant")


def test_a_best_offer_with_no_gain_is_no_offer(policy: OfferPolicy) -> None:
    n_offers = len(policy.catalog)
    gain = np.zeros((2, n_offers))
    gain[1, 0] = 0.5
    table = GainTable(
        uplift=np.zeros((2, n_offers)),
        value=np.full(2, 50.0),
        gain=gain,
        allowed=np.ones((2, n_offers), bool),
        blocked=pd.Series(["", ""]),
    )

    best = policy.best_offers(table)

    assert pd.isna(best["offer_id"][0]) and best["offer_id"][1] == policy.catalog[0]


def test_recommendations_respect_rules_and_only_positive_gains(policy: OfferPolicy) -> None:
    rows, p0, _ = toy_campaign(3_000, seed=6)

    recommended = policy.recommend(rows, p0)

    allowed = eligibility_matrix(rows, policy.config.catalog, policy.config)
    chosen = recommended["offer_id"].notna().to_numpy()
    index = {offer: k for k, offer in enumerate(policy.catalog)}
    columns = recommended.loc[chosen, "offer_id"].map(index).to_numpy()
    assert allowed[np.flatnonzero(chosen), columns].all()
    assert (recommended.loc[chosen, "expected_gain"] > 0).all()
    assert (recommended.loc[~chosen, "expected_gain"] == 0).all()
    # the sleeping-dog offer (members: raises churn) is never recommended
    assert "members" not in set(recommended["offer_id"].dropna())
    blocked = recommended["reason"].str.startswith("contact_rule")
    assert blocked.any() and recommended.loc[blocked, "offer_id"].isna().all()
    # cheap (uplift ~0.2-0.4, worth ~10-20, cost 1) helps where x1 is high: recommended to
    # nearly everyone there whom the contact rules allow; where x1 is very low it hurts them
    assert recommended.loc[(rows["x1"] > 1) & ~blocked, "offer_id"].eq("cheap").mean() > 0.9
    assert not recommended.loc[rows["x1"] < -1.5, "offer_id"].eq("cheap").any()


def test_policy_round_trips_through_its_folder(policy: OfferPolicy, tmp_path: Path) -> None:
    rows, p0, _ = toy_campaign(200, seed=7)
    save_policy(policy, tmp_path / "policy")

    loaded = load_policy(tmp_path / "policy")

    pd.testing.assert_frame_equal(loaded.recommend(rows, p0), policy.recommend(rows, p0))
    assert (tmp_path / "policy" / "policy.json").exists()


def test_missing_policy_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="run `churn offers`"):
        load_policy(tmp_path)


def test_campaign_targets_keep_budget_capacity_and_control_share(policy: OfferPolicy) -> None:
    rows, p0, _ = toy_campaign(6_000, seed=8)
    config = offers_config(budget=400.0, control_share=0.25)
    config = config.model_copy(
        update={
            "catalog": [config.catalog[0].model_copy(update={"capacity": 250}), *config.catalog[1:]]
        }
    )
    table = policy.gains(rows, p0)

    choice = allocate_campaign(table, config)
    targets = target_frame(rows["customer_id"], p0, table, choice, config)

    picked = targets[targets["group"] != "none"]
    assert picked["cost"].sum() <= 400.0
    assert (picked["offer_id"] == "cheap").sum() <= 250
    assert set(targets.loc[choice == NO_OFFER, "group"]) == {"none"}
    share = (picked["group"] == "control").mean()
    assert 0.15 < share < 0.35  # the hash split of a few hundred picked customers
    # every row says why: picked, or the reason the policy gives it no offer
    assert set(picked["decision"]) == {"campaign"}
    left = targets[targets["group"] == "none"]
    why = pd.Series(policy.best_offers(table)["reason"])[left.index]
    expected = why.where(why != "best_offer", "budget_or_capacity")
    assert left["decision"].tolist() == expected.tolist()
    assert left["decision"].str.startswith("contact_rule").any()
    assert (left["decision"] == "budget_or_capacity").any()  # the budget ran out first


def test_each_row_without_an_offer_says_why() -> None:
    config = offers_config(budget=1.0)  # one cheap send at most
    n_offers = len(config.catalog)
    gain = np.full((5, n_offers), -1.0)
    gain[0:2, 0] = [3.0, 2.0]  # two worth sending, room for one: the better is picked
    gain[3, 0] = 5.0  # worth sending but not allowed
    allowed = np.ones((5, n_offers), bool)
    allowed[3:, :] = False
    table = GainTable(
        uplift=np.zeros((5, n_offers)),
        value=np.full(5, 50.0),
        gain=gain,
        allowed=allowed,
        blocked=pd.Series(["", "", "", "", "contact_rule:cooldown"]),
    )
    choice = allocate_campaign(table, config)

    targets = target_frame(pd.Series(list("ABCDE")), np.full(5, 0.5), table, choice, config)

    assert targets["decision"].tolist() == [
        "campaign",
        "budget_or_capacity",
        "no_positive_gain",
        "no_eligible_offer",
        "contact_rule:cooldown",
    ]


def test_reasons_are_joined_by_customer() -> None:
    targets = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "campaign_id": "X",
            "offer_id": ["o", None],
            "group": ["treatment", "none"],
            "decision": ["campaign", "no_positive_gain"],
            "expected_gain": [1.0, 0.0],
            "churn_probability": [0.4, 0.1],
            "uplift": [0.1, 0.0],
            "value": [10.0, 5.0],
            "cost": [1.0, 0.0],
        }
    )
    reasons = pd.DataFrame({"customer_id": ["B", "A"], "reason_texts": ["quiet", "slow; late"]})

    joined = attach_reasons(targets, reasons)

    assert joined["reason_texts"].tolist() == ["slow; late", "quiet"]
    assert crm_import(joined)["offer_id"].tolist() == ["o", ""]
    precise = joined.assign(churn_probability=[0.123456789, 0.1], value=[10.006, 5.0])
    rounded = crm_import(precise)
    assert rounded["churn_probability"].tolist() == ["0.1235", "0.1000"]
    assert rounded["value"].tolist() == ["10.01", "5.00"]  # one format for every row
    assert precise["value"].tolist() == [10.006, 5.0]  # the targets keep full precision


def test_the_rule_columns_are_named_for_a_request_less_what_the_policy_fills(
    policy: OfferPolicy,
) -> None:
    """The service asks a CRM for these besides the model inputs; ``train.exclude_features``
    may leave any of them out of the models."""
    counts = ["events_count_30d_email_unsubscribe", "engagement_email_unsubscribes_365d"]
    without_offers = replace(policy, absent_tables=("offers",))

    named = policy.rule_feature_names(["customer_id", *counts])

    assert named == [
        "lifecycle_days_since_signup",
        "events_days_since_email_unsubscribe",
        "offers_days_since_last_offer",
        "offers_received_365d",
        "loyalty_member",  # the toy catalogue has a members-only offer
        "static_country",  # and a DE-only one
        *counts,
    ]
    assert not set(counts) & set(policy.rule_feature_names([]))  # only where the export has them
    assert "offers_days_since_last_offer" not in without_offers.rule_feature_names([])
    assert "offers_received_365d" not in without_offers.rule_feature_names([])
