"""The world's clock: weekly simulation steps, the truth cutoff grid and seasonality.

Time is kept as integer microseconds since the Unix epoch (naive, meaning UTC) so that every
timestamp the generator writes is exact and identical across runs. The world spans
``[start_date 00:00, end_date + 1 day 00:00)``; the simulation advances in 7-day steps from
``start_date`` and the last step is cut short at the end of ``end_date``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from core.config import GenerateConfig

SECOND_US = 1_000_000
HOUR_US = 3_600 * SECOND_US
DAY_US = 24 * HOUR_US
WEEK_US = 7 * DAY_US
_EPOCH = dt.date(1970, 1, 1)
# Churn peaks just after the holiday season, when one-off gift buyers drift away.
_CHURN_PEAK_DAY_OF_YEAR = 20
# Shopping peaks in late November / December.
_SHOPPING_PEAK_DAY_OF_YEAR = 340


def date_to_us(day: dt.date) -> int:
    """Microseconds since the epoch at 00:00 UTC of ``day``."""
    return (day - _EPOCH).days * DAY_US


@dataclass(frozen=True)
class Timeline:
    """Weekly steps over the world's span.

    ``week_starts[w]`` and ``week_ends[w]`` bound step ``w`` (the last one may be shorter than a
    week). Seasonality arrays cover ``n_weeks + extra_weeks`` nominal weeks so that the truth can
    look a horizon past the end of the data.
    """

    start_us: int
    end_us: int
    n_weeks: int
    week_starts: np.ndarray
    week_ends: np.ndarray
    churn_season: np.ndarray
    shopping_season: np.ndarray

    @classmethod
    def from_config(cls, config: GenerateConfig) -> Timeline:
        start_us = date_to_us(config.start_date)
        end_us = date_to_us(config.end_date) + DAY_US
        n_weeks = -(-(end_us - start_us) // WEEK_US)
        extra_weeks = config.truth.horizon_days // 7 + 2
        nominal_starts = start_us + WEEK_US * np.arange(n_weeks + extra_weeks, dtype=np.int64)
        mid_day_of_year = _day_of_year(nominal_starts + WEEK_US // 2)
        return cls(
            start_us=start_us,
            end_us=end_us,
            n_weeks=int(n_weeks),
            week_starts=nominal_starts[:n_weeks],
            week_ends=np.minimum(nominal_starts[:n_weeks] + WEEK_US, end_us),
            churn_season=_annual_cycle(mid_day_of_year, _CHURN_PEAK_DAY_OF_YEAR),
            shopping_season=_annual_cycle(mid_day_of_year, _SHOPPING_PEAK_DAY_OF_YEAR),
        )

    def week_of(self, timestamp_us: int) -> int:
        """The (nominal) step holding ``timestamp_us``; may exceed ``n_weeks`` past the end."""
        return (timestamp_us - self.start_us) // WEEK_US


def cutoff_dates(config: GenerateConfig) -> list[dt.date]:
    """The truth cutoff grid, oldest first.

    Anchored at the day after ``end_date`` — the moment the export ends, where a scoring snapshot
    of the latest data sits — and stepping back every ``truth.cutoff_every_days`` while at least
    ``truth.min_history_days`` after ``start_date``. A cutoff means the instant 00:00 UTC of that
    date: history is everything strictly before it.
    """
    earliest = config.start_date + dt.timedelta(days=config.truth.min_history_days)
    step = dt.timedelta(days=config.truth.cutoff_every_days)
    dates: list[dt.date] = []
    cutoff = config.end_date + dt.timedelta(days=1)
    while cutoff >= earliest:
        dates.append(cutoff)
        cutoff -= step
    return sorted(dates)


def _day_of_year(timestamps_us: np.ndarray) -> np.ndarray:
    days = timestamps_us // DAY_US
    years_start = (
        days.astype("datetime64[D]").astype("datetime64[Y]").astype("datetime64[D]").astype(int)
    )
    return (days - years_start).astype(np.float64)


def _annual_cycle(day_of_year: np.ndarray, peak_day: int) -> np.ndarray:
    """A unit cosine over the year that peaks on ``peak_day``."""
    return np.cos(2.0 * np.pi * (day_of_year - peak_day) / 365.25)
