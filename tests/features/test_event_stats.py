from __future__ import annotations

import ibis
import pytest

from features.event_stats import column_name, stat


def test_stat_finds_a_computed_statistic_and_names_the_fix_for_a_missing_one() -> None:
    count = column_name("web_session", "count_30d")
    frame = ibis.memtable({count: [3], column_name("web_session", "last_ts"): [1]})

    assert stat(frame, "web_session", "count_30d").get_name() == count
    with pytest.raises(LookupError, match=r"Family\.value_event_types"):
        stat(frame, "web_session", "value_sum_90d")
    with pytest.raises(LookupError, match=r"Family\.event_types"):
        stat(frame, "email_open", "count_30d")
