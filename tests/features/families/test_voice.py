from __future__ import annotations

import datetime as dt
import math

from features.build import compute_features
from tests.features.raw_tables import CHURN, by_customer, customers, events, only, orders

CUTOFF = dt.date(2024, 7, 1)


def test_last_nps_its_change_and_recency() -> None:
    tables = {
        "customers": customers("A", "B", "C", "D", "E"),
        "orders": orders(*((c, "2024-06-01", 1.0) for c in "ABCDE")),
        "events": events(
            ("A", "2023-05-28 10:00", "survey_nps", 9.0),  # 400 days before: in the history
            ("A", "2024-03-23 10:00", "survey_nps", 6.0),
            ("A", "2024-06-21 00:00", "survey_nps", 3.0),  # 10 days before
            ("A", "2024-06-25 00:00", "survey_nps", None),  # no score: only recency
            ("A", "2024-07-02 00:00", "survey_nps", 10.0),  # after the cutoff
            ("B", "2024-06-30 12:00", "survey_nps", 7.0),
            ("C", "2024-06-30 12:00", "web_session"),
            # whole-day timestamps tie: the highest score at the instant counts, whatever the order
            ("D", "2024-05-01 00:00", "survey_nps", 6.0),
            ("D", "2024-05-01 00:00", "survey_nps", 4.0),
            ("D", "2024-06-01 00:00", "survey_nps", 2.0),
            ("D", "2024-06-01 00:00", "survey_nps", 8.0),
            ("E", "2024-01-10 00:00", "survey_nps", 9.0),  # exactly two answers: a change
            ("E", "2024-06-10 00:00", "survey_nps", 5.0),
        ),
    }

    voice = by_customer(compute_features(tables, [CUTOFF], only("voice"), CHURN))

    assert voice["A"]["voice_last_nps"] == 3.0
    assert voice["A"]["voice_nps_change"] == -6.0  # latest 3 minus earliest 9
    assert voice["A"]["voice_days_since_last_nps"] == 6.0
    assert voice["B"]["voice_last_nps"] == 7.0
    assert math.isnan(voice["B"]["voice_nps_change"])  # a single answer
    assert voice["B"]["voice_days_since_last_nps"] == 0.5
    assert math.isnan(voice["C"]["voice_last_nps"])
    assert math.isnan(voice["C"]["voice_days_since_last_nps"])
    assert (voice["D"]["voice_last_nps"], voice["D"]["voice_nps_change"]) == (8.0, 2.0)
    assert voice["E"]["voice_nps_change"] == -4.0
