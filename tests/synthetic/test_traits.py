from __future__ import annotations

import numpy as np
import pytest

from core.config import GenerateConfig
from synthetic.timeline import Timeline
from synthetic.traits import draw_traits

CONFIG = GenerateConfig(loyalty_member_share=0.35, plus_share=0.2, contact_reactance_share=0.15)
TRAITS = draw_traits(np.random.default_rng(11), 20_000, CONFIG, Timeline.from_config(CONFIG))


def test_customers_are_sorted_by_signup_inside_the_span() -> None:
    timeline = Timeline.from_config(CONFIG)
    assert (np.diff(TRAITS.signup_us) >= 0).all()
    assert TRAITS.signup_us.min() >= timeline.start_us
    assert TRAITS.signup_us.max() < timeline.end_us


def test_attribute_shares_follow_the_config() -> None:
    assert TRAITS.loyalty_member.mean() == pytest.approx(0.35, abs=0.02)
    assert TRAITS.plan.mean() == pytest.approx(0.2, abs=0.02)
    country_share = np.bincount(TRAITS.country) / TRAITS.size
    np.testing.assert_allclose(country_share, list(CONFIG.countries.values()), atol=0.02)


def test_latent_traits_have_their_documented_ranges() -> None:
    assert TRAITS.price_sensitivity.min() >= 0 and TRAITS.price_sensitivity.max() <= 1
    assert TRAITS.frequent_small_basket.min() >= 0 and TRAITS.frequent_small_basket.max() <= 1
    assert 0.05 < np.median(TRAITS.order_rate) < 0.25
    assert 30 < np.median(TRAITS.basket_value) < 60
    assert (TRAITS.items_per_order >= 1).all()


def test_frequent_small_basket_means_many_small_orders() -> None:
    high = TRAITS.frequent_small_basket > 0.8
    low = TRAITS.frequent_small_basket < 0.2
    assert np.median(TRAITS.order_rate[high]) > 1.5 * np.median(TRAITS.order_rate[low])
    assert np.median(TRAITS.basket_value[high]) < 0.7 * np.median(TRAITS.basket_value[low])


def test_sleeping_dogs_are_a_minority_and_more_common_among_the_disengaged() -> None:
    sleeping_dog = TRAITS.contact_reactance > 0.3
    assert sleeping_dog.mean() == pytest.approx(0.15, abs=0.03)
    disengaged = TRAITS.engagement < np.median(TRAITS.engagement)
    assert sleeping_dog[disengaged].mean() > 1.5 * sleeping_dog[~disengaged].mean()
