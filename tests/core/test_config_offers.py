from __future__ import annotations

from pathlib import Path

import pytest

from core.config import Config, ConfigError

PROJECT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def test_project_params_hold_a_usable_offer_catalog() -> None:
    offers = Config.load(PROJECT_PARAMS).offers
    assert [offer.id for offer in offers.catalog] == [
        "discount_10",
        "free_shipping",
        "bonus_points",
    ]
    assert all(offer.unit_cost > 0 for offer in offers.catalog)
    assert 0 < offers.control_share < 1 and offers.budget > 0


@pytest.mark.parametrize(
    ("offers", "message"),
    [
        ({"catalog": [{"id": "a", "unit_cost": 1}, {"id": "a", "unit_cost": 2}]}, "unique"),
        ({"catalog": [{"id": "a", "unit_cost": 0}]}, "offers.catalog.0.unit_cost"),
        ({"catalog": [{"id": "a", "unit_cost": 1, "typo": 1}]}, "offers.catalog.0.typo: unknown"),
        ({"control_share": 1.0}, "offers.control_share"),
        ({"learners": ["t_learner"], "learner": "x_learner"}, "must be one of learners"),
    ],
)
def test_bad_offer_settings_name_the_key(offers: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_mapping({"offers": offers})
