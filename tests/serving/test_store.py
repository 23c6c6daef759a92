"""The by-id store built from small files by hand: what it answers, and what it refuses to load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Config
from serving.settings import ServiceSettings
from serving.store import StoreLoadError, build_store, fingerprint

IDS = ["C1", "C2", "C3"]
PROBABILITIES = [0.1, 0.35, 0.8]
REASONS = json.dumps([{"group": "recency", "text": "No order for 74 days"}])


def _settings(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings.from_config(Config.from_mapping({}, base_dir=tmp_path))


def _targets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": IDS,
            "offer_id": ["discount_10", None, ""],
            "group": ["treatment", "none", "none"],
            "decision": ["campaign", "budget_or_capacity", "no_positive_gain"],
            "expected_gain": [4.5, np.nan, 0.0],
            "churn_probability": PROBABILITIES,
            "uplift": [0.05, np.inf, None],
            "value": [120.0, 80.0, 30.0],
            "cost": [3.0, 0.0, 0.0],
        }
    )


def _reasons() -> pd.DataFrame:
    return pd.DataFrame(
        {"customer_id": IDS, "churn_probability": PROBABILITIES, "reasons": [REASONS, "", None]}
    )


def _write(
    settings: ServiceSettings,
    targets: pd.DataFrame | None = None,
    reasons: pd.DataFrame | None = None,
) -> None:
    for path in (settings.snapshot_path, settings.reasons_path, settings.targets_path):
        path.parent.mkdir(parents=True, exist_ok=True)
    settings.manifest_path.write_text(
        json.dumps({"snapshot_date": "2024-06-30", "feature_definitions_hash": "abc123"}),
        encoding="utf-8",
    )
    snapshot = pd.DataFrame({"customer_id": IDS, "rfm_orders_365d": [3, 1, 7]})
    snapshot.to_parquet(settings.snapshot_path, index=False)
    (_reasons() if reasons is None else reasons).to_parquet(settings.reasons_path, index=False)
    (_targets() if targets is None else targets).to_parquet(settings.targets_path, index=False)


def test_each_customer_gets_the_batch_decision_with_tier_reasons_and_offer(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _write(settings)

    store = build_store(settings)

    assert (store.snapshot_date, store.feature_definitions_hash) == ("2024-06-30", "abc123")
    assert store.snapshot_rows == 3
    assert store.probabilities == dict(zip(IDS, PROBABILITIES, strict=True))
    answers = {c: json.loads(store.answers[c]) for c in IDS}
    assert answers["C1"] == {
        "customer_id": "C1",
        "churn_probability": 0.1,
        "risk_tier": "low",
        "reasons": json.loads(REASONS),
        "offer": {
            "offer_id": "discount_10",
            "expected_gain": 4.5,
            "uplift": 0.05,
            "value": 120.0,
            "cost": 3.0,
            "group": "treatment",
            "decision": "campaign",
        },
        "source": "snapshot",
        "warnings": [],
    }
    assert [answers[c]["risk_tier"] for c in IDS] == ["low", "medium", "high"]
    # no reasons and no offer read as empty, and a number that is not finite as null
    assert answers["C2"]["reasons"] == [] and answers["C3"]["reasons"] == []
    assert answers["C2"]["offer"]["offer_id"] is None and answers["C3"]["offer"]["offer_id"] is None
    assert answers["C2"]["offer"]["expected_gain"] is None
    assert answers["C2"]["offer"]["uplift"] is None and answers["C3"]["offer"]["uplift"] is None


def test_a_probability_on_a_tier_cut_point_is_in_the_higher_tier(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    probabilities = [0.2, 0.5, 0.19]
    _write(
        settings,
        _targets().assign(churn_probability=probabilities),
        _reasons().assign(churn_probability=probabilities),
    )

    store = build_store(settings)

    assert [json.loads(store.answers[c])["risk_tier"] for c in IDS] == ["medium", "high", "low"]


def test_answers_follow_the_snapshot_order_whatever_the_order_of_the_other_files(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    _write(settings, _targets().iloc[::-1], _reasons().iloc[[1, 2, 0]])

    store = build_store(settings)

    assert list(store.answers) == IDS
    assert store.batch_probabilities.tolist() == PROBABILITIES
    assert store.check_rows["customer_id"].tolist() == IDS
    assert list(store.check_rows.columns) == ["customer_id", "rfm_orders_365d"]  # the snapshot's


def test_lookup_returns_answers_in_request_order_and_the_unknown_ids(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _write(settings)
    store = build_store(settings)

    found, unknown = store.lookup(["C3", "C1"])
    assert [json.loads(answer)["customer_id"] for answer in found] == ["C3", "C1"]
    assert unknown == []

    found, unknown = store.lookup(["C2", "X9", "C1", "X8"])
    assert [json.loads(answer)["customer_id"] for answer in found] == ["C2", "C1"]
    assert unknown == ["X9", "X8"]


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (
            _targets().iloc[:2],
            r"targets\.parquet: 2 customers but the snapshot .* has 3; .* missing e\.g\. \['C3'\]",
        ),
        (
            pd.concat([_targets(), _targets().iloc[[0]]], ignore_index=True),
            r"targets\.parquet: duplicate customer_id values, e\.g\. \['C1'\]",
        ),
        (_targets().drop(columns="uplift"), r"targets\.parquet: missing column\(s\) \['uplift'\]"),
    ],
)
def test_targets_not_matching_the_snapshot_are_refused_naming_the_file(
    tmp_path: Path, targets: pd.DataFrame, message: str
) -> None:
    settings = _settings(tmp_path)
    _write(settings, targets=targets)

    with pytest.raises(StoreLoadError, match=message):
        build_store(settings)


def test_reasons_for_other_customers_are_refused_naming_the_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _write(settings, reasons=_reasons().assign(customer_id=["C1", "C2", "C9"]))

    with pytest.raises(StoreLoadError, match=r"reasons\.parquet: 3 customers .* e\.g\. \['C9'\]"):
        build_store(settings)


def test_reasons_and_targets_from_different_models_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _write(settings, reasons=_reasons().assign(churn_probability=[0.1, 0.35 + 1e-4, 0.8]))

    with pytest.raises(StoreLoadError, match=r"give 1 customers different .*\['C2'\]"):
        build_store(settings)


def test_probabilities_equal_to_the_last_bit_but_for_rounding_are_one_model(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path)
    _write(settings, reasons=_reasons().assign(churn_probability=[0.1, 0.35 + 1e-9, 0.8]))

    assert build_store(settings).snapshot_rows == 3


def test_a_missing_or_incomplete_manifest_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _write(settings)
    settings.manifest_path.write_text(json.dumps({"snapshot_date": "2024-06-30"}))

    with pytest.raises(StoreLoadError, match=r"manifest lacks \['feature_definitions_hash'\]"):
        build_store(settings)
    settings.manifest_path.unlink()
    with pytest.raises(StoreLoadError, match="not found: run `churn features`"):
        build_store(settings)


def test_the_fingerprint_changes_when_a_file_arrives_or_changes(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _write(settings)
    settings.targets_path.unlink()

    before = fingerprint(settings)
    assert (str(settings.targets_path), 0, -1) in before
    _targets().to_parquet(settings.targets_path, index=False)
    arrived = fingerprint(settings)
    assert arrived != before
    assert arrived[:3] == before[:3]
    (settings.policy_dir / "value").mkdir(parents=True)
    (settings.policy_dir / "value" / "model.json").write_text("{}", encoding="utf-8")
    with_policy = fingerprint(settings)
    assert with_policy[:4] == arrived
    assert [entry[0] for entry in with_policy[4:]] == [
        str(settings.policy_dir / "value" / "model.json")
    ]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("manifest", r"manifest\.json: unreadable manifest"),
        ("reasons", r"snapshot_reasons\.parquet not found: run `churn explain` \(dvc repro\)"),
        ("targets", r"targets\.parquet: unreadable Parquet"),
    ],
)
def test_a_missing_or_damaged_file_is_a_load_error_naming_it(
    tmp_path: Path, damage: str, message: str
) -> None:
    """A load error, not a crash: the service keeps the store it has."""
    settings = _settings(tmp_path)
    _write(settings)
    if damage == "manifest":
        settings.manifest_path.write_text("{not json", encoding="utf-8")
    elif damage == "reasons":
        settings.reasons_path.unlink()
    else:
        settings.targets_path.write_bytes(b"PAR1 but not really")

    with pytest.raises(StoreLoadError, match=message):
        build_store(settings)
