"""The fitted offer policy: per customer, the offer with the best expected net gain, or none.

``expected gain = uplift × value - unit cost``: ``uplift`` is the predicted reduction of the
churn probability (clipped to what the churn probability allows: no offer brings it below 0 or
above 1), ``value`` is the margin a saved customer brings (``value_periods`` × the next
horizon's expected margin if they stay). Eligibility and contact rules are applied; budget,
capacity and the control group are not — that is the batch stage's allocation (``allocate``),
because they depend on the whole campaign, not on one customer.

The policy is persisted with joblib in a folder (``policy.joblib`` plus a readable
``policy.json``) and loaded by the scoring service with :func:`load_policy`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from core.atomic import atomic_dir
from core.config import OffersConfig
from models.candidates import FeatureColumns
from offers.rules import (
    UNSUBSCRIBE_COUNTS,
    contact_block,
    eligibility_matrix,
    require_rule_columns,
    rule_columns,
    with_absent_history,
)
from offers.uplift import UpliftLearner

POLICY_FILE = "policy.joblib"
POLICY_JSON = "policy.json"


class PolicyLoadError(RuntimeError):
    """The policy folder is missing or does not hold a policy this code can use."""


@dataclass(frozen=True)
class GainTable:
    """rows × offers: predicted uplift, the offer's expected net gain, and whether allowed."""

    uplift: np.ndarray
    value: np.ndarray
    gain: np.ndarray
    allowed: np.ndarray
    blocked: pd.Series


@dataclass
class OfferPolicy:
    """Uplift model + value model + catalog and contact rules, fitted on past campaigns."""

    config: OffersConfig
    columns: FeatureColumns
    uplift_model: UpliftLearner
    value_model: Any
    value_kind: str
    absent_tables: tuple[str, ...] = ()
    """Optional tables the export lacks: their contact-rule columns read as no history
    (``offers.rules.NO_HISTORY``). A policy pickled before this field existed reads the default."""
    unseen_event_types: tuple[str, ...] = ()
    """Event types a rule reads that the export's events never held (``offers.rules.
    NO_EVENT_OF_TYPE``): their columns read as no such event."""

    @property
    def catalog(self) -> list[str]:
        return [offer.id for offer in self.config.catalog]

    @property
    def feature_names(self) -> list[str]:
        return self.columns.all

    def rule_feature_names(self, available: Collection[str]) -> list[str]:
        """The columns the eligibility and contact rules read from a feature row: those of
        :func:`~offers.rules.rule_columns`, and the unsubscribe counts among ``available`` (read
        where present), less what :meth:`rule_inputs` fills itself (absent tables, unseen event
        types).

        Not only :attr:`feature_names`: ``train.exclude_features`` can leave a rule column out of
        the models (``offers_*``, say, so the churn model does not learn past targeting), and the
        rules still read it, so a scoring request must carry it.
        """
        filled = set(self.rule_inputs(pd.DataFrame()).columns)
        optional = [name for name in UNSUBSCRIBE_COUNTS if name in available]
        needed = [*rule_columns(self.config.catalog), *optional]
        return [name for name in dict.fromkeys(needed) if name not in filled]

    @property
    def unit_costs(self) -> np.ndarray:
        return np.array([offer.unit_cost for offer in self.config.catalog])

    def rule_inputs(self, features: pd.DataFrame) -> pd.DataFrame:
        """``features`` as the eligibility and contact rules read them (absent tables filled)."""
        return with_absent_history(features, self.absent_tables, self.unseen_event_types)

    def gains(self, features: pd.DataFrame, churn_probability: Any) -> GainTable:
        """Every offer's predicted uplift and net gain per row, and the rules' verdict."""
        features = self.rule_inputs(features)
        require_rule_columns(features, self.config.catalog, "offer policy input")
        probability = np.asarray(churn_probability, dtype=float)
        if probability.shape != (len(features),):
            raise ValueError(
                f"offer policy: {len(features)} feature rows but churn probabilities of shape "
                f"{probability.shape}"
            )
        return self.table(
            probability,
            self.uplift_model.predict(features, probability),
            self.value_model.predict(features),
            eligibility_matrix(features, self.config.catalog, self.config),
            contact_block(features, self.config),
        )

    def table(
        self,
        probability: np.ndarray,
        uplift: np.ndarray,
        value: np.ndarray,
        allowed: np.ndarray,
        blocked: pd.Series,
    ) -> GainTable:
        """The :class:`GainTable` from the models' raw predictions (uplift clipped to what the
        churn probability allows, value over ``value_periods``) and the rules' verdicts; shared
        by :meth:`gains` and the scoring service's per-request path."""
        uplift = np.clip(uplift, (probability - 1.0)[:, None], probability[:, None])
        value = value * self.config.value_periods
        gain = uplift * value[:, None] - self.unit_costs[None, :]
        return GainTable(uplift, value, gain, allowed, blocked)

    def recommend(self, features: pd.DataFrame, churn_probability: Any) -> pd.DataFrame:
        """Per row the best allowed offer with positive expected gain (no budget), or none."""
        best = self.best_offers(self.gains(features, churn_probability))
        return pd.DataFrame(best, index=features.index)

    def best_offers(self, table: GainTable) -> dict[str, np.ndarray]:
        """:meth:`recommend`'s columns, as arrays, from a :class:`GainTable`."""
        rows = np.arange(len(table.value))
        best, best_gain, reason = best_allowed(table)
        chosen = reason == BEST_OFFER
        catalog = np.array(self.catalog, dtype=object)
        costs = self.unit_costs
        return {
            "offer_id": np.where(chosen, catalog[best] if len(catalog) else None, None),
            "expected_gain": np.where(chosen, best_gain, 0.0),
            "uplift": np.where(chosen, table.uplift[rows, best], 0.0),
            "value": table.value,
            "cost": np.where(chosen, costs[best] if len(costs) else 0.0, 0.0),
            "reason": reason,
        }


BEST_OFFER = "best_offer"


def best_allowed(table: GainTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row the allowed offer of highest expected gain (its index and gain), and the verdict:
    :data:`BEST_OFFER` where that gain is positive, else why there is none: the contact rule that
    blocks the customer (``contact_rule:...``), ``no_eligible_offer`` or ``no_positive_gain``."""
    rows = np.arange(len(table.value))
    masked = np.where(table.allowed, table.gain, -np.inf)
    has_allowed = table.allowed.any(axis=1)
    best = masked.argmax(axis=1) if masked.shape[1] else np.zeros(len(rows), dtype=int)
    best_gain = masked[rows, best] if masked.shape[1] else np.full(len(rows), -np.inf)
    blocked = np.asarray(table.blocked)
    reason = np.where(
        has_allowed & (best_gain > 0),
        BEST_OFFER,
        np.where(
            blocked != "",
            blocked,
            np.where(has_allowed, "no_positive_gain", "no_eligible_offer"),
        ),
    )
    return best, best_gain, reason


def save_policy(policy: OfferPolicy, path: Path) -> None:
    """Write the policy folder atomically: the joblib object and a readable description."""
    with atomic_dir(path) as folder:
        joblib.dump(policy, folder / POLICY_FILE)
        description = {
            "catalog": [offer.model_dump() for offer in policy.config.catalog],
            "uplift_learner": policy.uplift_model.kind,
            "value_model": policy.value_kind,
            "value_periods": policy.config.value_periods,
            "features": policy.feature_names,
            "absent_tables": list(policy.absent_tables),
            "unseen_event_types": list(policy.unseen_event_types),
        }
        (folder / POLICY_JSON).write_text(json.dumps(description, indent=2) + "\n")


def load_policy(path: str | Path) -> OfferPolicy:
    """The policy saved by ``churn offers`` in folder ``path``."""
    file = Path(path) / POLICY_FILE
    if not file.exists():
        raise PolicyLoadError(
            f"{file}: no offer policy here; run `churn offers` (dvc repro offers)"
        )
    try:
        policy = joblib.load(file)
    except Exception as error:  # a pickle of an incompatible version fails in many ways
        raise PolicyLoadError(f"{file}: cannot load the offer policy: {error}") from error
    if not isinstance(policy, OfferPolicy):
        raise PolicyLoadError(f"{file}: holds a {type(policy).__name__}, expected an OfferPolicy")
    return policy
