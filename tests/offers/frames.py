"""Small hand-built feature rows and a toy campaign world with known offer effects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import CatalogOffer, OffersConfig
from models.candidates import FeatureColumns

CATALOG = [
    CatalogOffer(id="cheap", unit_cost=1.0, capacity=None),
    CatalogOffer(id="members", unit_cost=2.0, members_only=True, capacity=None),
    CatalogOffer(id="de_only", unit_cost=3.0, min_tenure_days=100, countries=["DE"]),
]


def offers_config(**overrides: object) -> OffersConfig:
    settings: dict[str, object] = {
        "catalog": [offer.model_dump() for offer in CATALOG],
        "budget": 50.0,
        "control_share": 0.2,
        "cooldown_days": 30,
        "max_offers_365d": 3,
        "xgboost": {"n_estimators": 60, "max_depth": 2, "learning_rate": 0.1},
    }
    return OffersConfig.model_validate(settings | overrides)


def rule_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """Feature rows with every rule column varied, plus two numeric model inputs."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n)],
            "lifecycle_days_since_signup": rng.integers(0, 400, n).astype(float),
            "loyalty_member": rng.integers(0, 2, n),
            "static_country": rng.choice(["DE", "FR", "NL"], n),
            "events_days_since_email_unsubscribe": np.where(
                rng.random(n) < 0.15, rng.integers(1, 300, n), np.nan
            ),
            "offers_days_since_last_offer": np.where(
                rng.random(n) < 0.5, rng.integers(1, 200, n), np.nan
            ),
            "offers_received_365d": rng.integers(0, 5, n),
            "x1": rng.normal(size=n),
            "x2": rng.normal(size=n),
        }
    )


TOY_COLUMNS = FeatureColumns(numeric=("x1", "x2"), categorical=())


def toy_campaign(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Randomised campaign rows with known effects on the churn probability.

    Control churn probability ``p0 = 0.5``. Each offer multiplies the churn hazard by
    ``exp(theta)``: ``cheap`` has ``theta = -0.6 - 0.6 * x1`` (helps most where ``x1`` is high,
    hurts where it is very low), ``members`` ``theta = +0.4`` (a sleeping-dog offer), ``de_only``
    ``theta = 0``. Returns rows (``treatment_offer``, ``churned``, ``churn_probability``), the
    true p0 and the true uplift ``p0 - p_offer`` per offer (rows × 3).
    """
    rng = np.random.default_rng(seed)
    rows = rule_rows(n, seed)
    arm = rng.choice(np.array(["control", "cheap", "members", "de_only"], dtype=object), n)
    p0 = np.full(n, 0.5)
    theta = np.column_stack([-0.6 - 0.6 * rows["x1"].to_numpy(), np.full(n, 0.4), np.zeros(n)])
    p_offer = 1.0 - (1.0 - p0[:, None]) ** np.exp(theta)
    uplift = p0[:, None] - p_offer
    offer_index = {"control": -1, "cheap": 0, "members": 1, "de_only": 2}
    column = np.array([offer_index[a] for a in arm])
    p_arm = np.where(column < 0, p0, p_offer[np.arange(n), np.maximum(column, 0)])
    rows["treatment_offer"] = np.where(arm == "control", None, arm)
    rows["churned"] = rng.random(n) < p_arm
    rows["churn_probability"] = p0
    return rows, p0, uplift
