"""The pandas-free explain path answers exactly what the reference ``score_frame`` answers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.config import Config
from models.reasons import reasons_for_rows, reasons_json
from offers.policy import OfferPolicy
from offers.rules import (
    COUNTRY,
    DAYS_SINCE_OFFER,
    OFFERS_365D,
    TENURE,
    UNSUBSCRIBE_COUNTS,
    UNSUBSCRIBED,
)
from offers.uplift import make_learner
from offers.value import BgNbdValue
from serving.fastexplain import ReasonPlan, compile_fast_explainer
from serving.fastpath import snapshot_rows
from serving.scoring import request_frame, score_frame
from serving.state import Serving, _checked_fast_explainer, fast_answers
from tests.models.reason_rows import regroup_rows

pytestmark = pytest.mark.slow  # needs the tiny world built by the real stages


@pytest.fixture(scope="module")
def served(world: Config) -> Iterator[Serving]:
    """What the service loads for the tiny world."""
    from serving.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHURN_API_KEYS", "test-key")
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        app = create_app(world)
        outcome = app.state.holder.refresh()
        assert outcome.error is None, outcome.error
        yield app.state.holder.current


@pytest.fixture(scope="module")
def snapshot(world: Config) -> pd.DataFrame:
    return pd.read_parquet(world.paths.features_dir / "snapshot.parquet")


@pytest.fixture(scope="module", params=["reach_hazard", "hazard_ratio"])
def serving(
    served: Serving, snapshot: pd.DataFrame, world: Config, request: pytest.FixtureRequest
) -> Serving:
    return fast_path_serving(served, snapshot, world, request.param)


def fast_path_serving(
    served: Serving, snapshot: pd.DataFrame, world: Config, learner_kind: str
) -> Serving:
    """The served model with a policy of the shape the fast path handles (the tiny world's
    offers stage picks a T/X-learner and the gradient-boosting value model, which keep the
    reference path; the default world picks ``reach_hazard`` + BG/NBD), fitted on random
    campaigns over the snapshot rows: the parity checked here is computational."""
    rng = np.random.default_rng(1)
    catalog = [offer.id for offer in world.offers.catalog]
    n = len(snapshot)
    offer_ids = np.array([None, *catalog], dtype=object)[rng.integers(0, len(catalog) + 1, n)]
    probability = served.model.probabilities(snapshot)
    churned = rng.random(n) < probability
    columns = served.policy.columns
    learner = make_learner(
        learner_kind,
        catalog,
        columns,
        {"n_estimators": 30, "max_depth": 3},
        seed=0,
        hazard_l2=10.0,
        effect_features=world.offers.effect_features,
    )
    if learner_kind == "reach_hazard":
        redeemed = (offer_ids != None) & (rng.random(n) < 0.5)  # noqa: E711 (elementwise)
        learner.fit(snapshot, offer_ids, churned, probability, redeemed=redeemed)  # type: ignore[call-arg]
    else:
        learner.fit(snapshot, offer_ids, churned, probability)
    value = BgNbdValue(world.churn.horizon_days, world.offers.gross_margin).fit(snapshot)
    policy = OfferPolicy(world.offers, columns, learner, value, "bg_nbd")
    base = replace(served, policy=policy, fast_explain=None)
    fast = compile_fast_explainer(
        served.model.model,
        served.model.columns,
        policy,
        served.feature_kinds,
        served.top_reasons,
        served.reason_min_log_odds,
    )
    assert fast is not None
    return replace(base, fast_explain=fast)


@pytest.fixture(scope="module")
def rows(serving: Serving, snapshot: pd.DataFrame) -> list[dict[str, Any]]:
    return snapshot_rows(snapshot, serving.required_features)


def reference(serving: Serving, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return score_frame(serving, request_frame(serving, chunk), [None] * len(chunk), True)


def fast(serving: Serving, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert serving.fast_explain is not None
    return fast_answers(serving, serving.fast_explain, chunk, [None] * len(chunk))


def test_the_fast_path_walks_the_trees_and_the_service_checks_it(
    serving: Serving, served: Serving
) -> None:
    assert serving.fast_explain is not None and serving.fast_explain.trees is not None
    assert served.fast is not None and served.fast.trees is not None
    # the tiny world's own policy (T/X-learner, gradient-boosting value) keeps the reference path
    assert served.fast_explain is None


def test_the_load_time_check_accepts_it(serving: Serving, snapshot: pd.DataFrame) -> None:
    assert _checked_fast_explainer(serving, snapshot) is not None


def test_every_snapshot_row_alone_gets_the_reference_answer(
    serving: Serving, rows: list[dict[str, Any]]
) -> None:
    mismatched = [
        i for i, row in enumerate(rows) if fast(serving, [row]) != reference(serving, [row])
    ]
    assert not mismatched, f"{len(mismatched)} of {len(rows)} rows differ, first {mismatched[:5]}"
    decisions = {answer["offer"]["decision"] for answer in fast(serving, rows)}
    assert len(decisions) >= 2  # more than one branch of the policy is exercised


@pytest.mark.parametrize("size", [3, 8, 9, 50])
def test_batches_get_the_reference_answers(
    serving: Serving, rows: list[dict[str, Any]], size: int
) -> None:
    for start in range(0, len(rows), size):
        chunk = rows[start : start + size]
        assert fast(serving, chunk) == reference(serving, chunk)


def test_edited_values_nulls_unknown_categories_and_rules_match(
    serving: Serving, rows: list[dict[str, Any]]
) -> None:
    """Values the snapshot may not hold: every null, unknown categories, each contact rule."""
    rng = np.random.default_rng(0)
    kinds = serving.feature_kinds
    edited = []
    for i, original in enumerate(rows[:120]):
        row = dict(original)
        for name in rng.choice(list(row), size=12, replace=False):
            if kinds[name] == "string":
                row[name] = rng.choice([None, "never-seen", row[name]])
            elif kinds[name] == "bool":
                row[name] = rng.choice([None, True, False])
            else:
                row[name] = None if rng.random() < 0.5 else float(rng.normal(0, 100))
        rule = i % 6
        if rule == 0:
            row[UNSUBSCRIBED] = 3.0
        elif rule == 1:
            row[DAYS_SINCE_OFFER] = 1.0
        elif rule == 2:
            row[OFFERS_365D] = 99.0
        elif rule == 3:
            row[TENURE] = None
        elif rule == 4:
            row[COUNTRY] = None
        edited.append(row)
    for row in edited:
        assert fast(serving, [row]) == reference(serving, [row])
    assert fast(serving, edited) == reference(serving, edited)
    every_null = {name: None for name in rows[0]}
    assert fast(serving, [every_null]) == reference(serving, [every_null])


def test_a_null_contact_value_contradicted_by_its_counts_never_permits_an_offer(
    serving: Serving, rows: list[dict[str, Any]]
) -> None:
    """The README asks for null where a value is unknown; in the contact rules' days-since
    inputs null means "never", so a request whose counts say otherwise is blocked, on both
    paths, whatever the model would offer."""
    unsubscribed = [
        dict(row, **{UNSUBSCRIBED: None, "engagement_email_unsubscribes_365d": 3.0})
        for row in rows[:40]
    ]
    never_unsubscribed = {UNSUBSCRIBED: None} | {c: 0.0 for c in UNSUBSCRIBE_COUNTS if c in rows[0]}
    cooling = [
        dict(row, **never_unsubscribed, **{DAYS_SINCE_OFFER: None, OFFERS_365D: 1.0})
        for row in rows[:40]
    ]
    for edited, rule in ((unsubscribed, "unsubscribed"), (cooling, "cooldown")):
        answers = fast(serving, edited)
        assert answers == reference(serving, edited)
        assert {answer["offer"]["decision"] for answer in answers} == {f"contact_rule:{rule}"}
        assert all(answer["offer"]["offer_id"] is None for answer in answers)


def test_a_policy_with_no_campaign_evidence_scores_and_explains_but_offers_nothing(
    served: Serving, snapshot: pd.DataFrame, world: Config
) -> None:
    """An export without an offers table gets ``NoEvidenceUplift`` (``churn offers``): the
    service must still answer with probability and reasons, through the reference path."""
    from offers.uplift import NoEvidenceUplift

    catalog = [offer.id for offer in world.offers.catalog]
    policy = replace(served.policy, uplift_model=NoEvidenceUplift(catalog))
    serving = replace(served, policy=policy, fast_explain=None)
    assert _checked_fast_explainer(serving, snapshot) is None

    rows = snapshot_rows(snapshot.head(50), serving.required_features)
    answers = score_frame(serving, request_frame(serving, rows), [None] * 50, True)
    reference = score_frame(served, request_frame(served, rows), [None] * 50, True)

    assert [a["churn_probability"] for a in answers] == [a["churn_probability"] for a in reference]
    assert [a["reasons"] for a in answers] == [a["reasons"] for a in reference]
    assert all(a["offer"]["offer_id"] is None for a in answers)
    assert any(a["offer"]["decision"] == "no_positive_gain" for a in answers)


@pytest.mark.parametrize("min_contribution", [0.0, 0.05])
def test_the_fast_reason_plan_picks_and_words_as_reasons_for_rows(min_contribution: float) -> None:
    """On rows whose features change group or wording (idle, never ordered, not enrolled,
    unsubscribed): the service's
    fast path and the batch path share the selection, so they cannot drift apart."""
    explanation = regroup_rows(600, seed=3)
    plan = ReasonPlan.of(list(explanation.contributions.columns), 3, min_contribution)
    values = explanation.values.to_dict("records")

    fast = plan.reasons(explanation.contributions.to_numpy(), values)
    batch = reasons_for_rows(explanation, 3, False, min_contribution)

    assert fast == [json.loads(reasons_json(codes)) for codes in batch]
    texts = {code["text"] for row in fast for code in row}
    assert {
        "Not enrolled in the loyalty programme",
        "Unsubscribed from marketing e-mails 60 days ago",
    } <= texts
