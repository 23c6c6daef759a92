from __future__ import annotations

import ibis
import pytest

from features.event_stats import stat


def test_stat_finds_a_computed_statistic_and_names_the_fix_for_a_missing_one() -> None:
    frame = ibis.memtable({"_event_web_session_count_30d": [3], "_event_web_session_last_ts": [1]})

    assert stat(frame, "web_session", "count_30d").get_name() == "_event_web_session_count_30d"
    with pytest.raises(LookupError, match=r"Family\.value_event_types"):
        stat(frame, "web_session", "value_sum_90d")
    with pytest.raises(LookupError, match=r"Family\.event_types"):
        stat(frame, "email_open", "count_30d")
