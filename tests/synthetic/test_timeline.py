from __future__ import annotations

import datetime as dt

import numpy as np

from core.config import GenerateConfig, TruthConfig
from synthetic.timeline import DAY_US, WEEK_US, Timeline, cutoff_dates, date_to_us


def test_weeks_cover_the_span_and_the_last_one_is_cut_at_the_end() -> None:
    config = GenerateConfig(start_date=dt.date(2023, 1, 1), end_date=dt.date(2024, 12, 31))
    timeline = Timeline.from_config(config)
    assert timeline.start_us == date_to_us(dt.date(2023, 1, 1))
    assert timeline.end_us == date_to_us(dt.date(2025, 1, 1))
    assert timeline.n_weeks == 105  # 731 days = 104 weeks + 3 days
    assert timeline.week_starts[0] == timeline.start_us
    assert (np.diff(timeline.week_starts) == WEEK_US).all()
    assert timeline.week_ends[-1] == timeline.end_us
    assert timeline.week_ends[-1] - timeline.week_starts[-1] == 3 * DAY_US
    assert timeline.week_of(timeline.end_us - 1) == 104


def test_seasons_peak_in_january_for_churn_and_december_for_shopping() -> None:
    timeline = Timeline.from_config(GenerateConfig())
    first_year = slice(0, 52)
    assert np.argmax(timeline.churn_season[first_year]) in (1, 2)  # mid-January
    assert np.argmax(timeline.shopping_season[first_year]) in (47, 48)  # early December
    assert len(timeline.churn_season) > timeline.n_weeks  # truth may look past the end


def test_cutoffs_step_back_from_the_end_of_the_data_while_enough_history() -> None:
    config = GenerateConfig(
        start_date=dt.date(2023, 1, 1),
        end_date=dt.date(2024, 1, 30),
        truth=TruthConfig(cutoff_every_days=100, min_history_days=100),
    )
    assert cutoff_dates(config) == [  # 2023-04-06 is only 95 days after the start
        dt.date(2023, 7, 15),
        dt.date(2023, 10, 23),
        dt.date(2024, 1, 31),
    ]


def test_default_grid_ends_the_day_after_the_end_date() -> None:
    config = GenerateConfig()
    dates = cutoff_dates(config)
    assert dates[-1] == config.end_date + dt.timedelta(days=1)
    assert (dates[0] - config.start_date).days >= config.truth.min_history_days
    assert (dates[0] - config.start_date).days < config.truth.min_history_days + 30
