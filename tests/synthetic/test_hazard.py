from __future__ import annotations

import numpy as np
import pytest

from core.config import GenerateConfig, HazardConfig, OfferSpec
from synthetic.hazard import ChurnDrivers, offer_log_effects, state_log_hazard
from synthetic.timeline import Timeline
from synthetic.traits import draw_traits

COEFFICIENTS = HazardConfig()
BASE = 0.02


def _log_hazard_of(**changes: object) -> float:
    """Log-hazard of one neutral customer with ``changes`` applied to its drivers."""
    drivers = ChurnDrivers.neutral(1)
    for name, value in changes.items():
        getattr(drivers, name)[:] = value
    return float(state_log_hazard(drivers, COEFFICIENTS, BASE)[0])


def test_a_neutral_customer_sits_at_the_base_hazard() -> None:
    assert _log_hazard_of() == pytest.approx(np.log(BASE))


def test_slow_first_responses_raise_the_hazard_holding_everything_else_equal() -> None:
    fast = _log_hazard_of(tickets_recent=1.0, slow_responses_recent=0.0)
    slow = _log_hazard_of(tickets_recent=1.0, slow_responses_recent=1.0)
    assert slow - fast == pytest.approx(COEFFICIENTS.slow_responses)
    assert slow > fast > _log_hazard_of()


def test_low_nps_and_low_csat_raise_the_hazard() -> None:
    detractor = _log_hazard_of(last_nps=2.0)
    passive = _log_hazard_of(last_nps=7.0)
    promoter = _log_hazard_of(last_nps=10.0)
    assert detractor - passive == pytest.approx(5 * COEFFICIENTS.low_nps)
    assert detractor > passive > promoter
    assert _log_hazard_of(last_csat=1.0) > _log_hazard_of(last_csat=5.0)


@pytest.mark.parametrize(
    ("driver", "risky", "safe"),
    [
        ("weeks_since_order", 20.0, 1.0),
        ("order_rate_recent", 0.02, 0.5),
        ("spend_short", 0.0, 80.0),  # falling spend: short-term below long-term
        ("unsubscribed", True, False),
        ("cart_abandons_recent", 3.0, 0.0),
        ("loyalty_member", False, True),
        ("redemptions_recent", 0.0, 1.0),
        ("has_referred", False, True),
        ("engagement", -1.0, 1.0),
        ("satisfaction", -1.0, 1.0),
        ("price_sensitivity", 0.9, 0.1),
    ],
)
def test_each_driver_moves_the_hazard_the_way_a_retention_team_expects(
    driver: str, risky: object, safe: object
) -> None:
    assert _log_hazard_of(spend_long=40.0, **{driver: risky}) > _log_hazard_of(
        spend_long=40.0, **{driver: safe}
    )


def test_falling_email_engagement_raises_the_hazard() -> None:
    falling = _log_hazard_of(open_rate_short=0.05, open_rate_long=0.4)
    steady = _log_hazard_of(open_rate_short=0.4, open_rate_long=0.4)
    assert falling - steady == pytest.approx(-COEFFICIENTS.email_open_trend * 0.35)


def test_offer_effects_follow_the_catalogue_weights_and_carry_reactance() -> None:
    config = GenerateConfig()
    traits = draw_traits(np.random.default_rng(0), 5_000, config, Timeline.from_config(config))
    effects = offer_log_effects(traits, config.offers)
    discount, free_shipping, bonus = (effects[:, column] for column in range(3))

    expected_discount = 0.05 - 0.9 * traits.price_sensitivity + traits.contact_reactance
    np.testing.assert_allclose(discount, expected_discount)
    assert np.corrcoef(discount, traits.price_sensitivity)[0, 1] < -0.5
    assert np.corrcoef(free_shipping, traits.frequent_small_basket)[0, 1] < -0.5
    members = traits.loyalty_member
    assert bonus[members].mean() < bonus[~members].mean() - 0.5
    harmful = (effects > 0).all(axis=1)
    assert 0.05 < harmful.mean() < 0.3
    assert (traits.contact_reactance[harmful] > 0.3).mean() > 0.8


def test_offer_without_trait_weights_is_base_plus_reactance() -> None:
    config = GenerateConfig()
    traits = draw_traits(np.random.default_rng(1), 100, config, Timeline.from_config(config))
    plain = OfferSpec(id="plain", description="no trait weights", base_effect=-0.2)
    effects = offer_log_effects(traits, [plain])
    np.testing.assert_allclose(effects[:, 0], -0.2 + traits.contact_reactance)
