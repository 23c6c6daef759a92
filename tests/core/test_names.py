from __future__ import annotations

import pytest

from core.names import SettingNameError, absent_names, edit_distance

COLUMNS = ["static_plan", "static_gender", "rfm_spend_365d", "lifecycle_days_since_signup"]


def test_a_misspelt_name_is_refused_naming_the_setting_and_the_column_meant() -> None:
    with pytest.raises(SettingNameError) as refused:
        absent_names(
            {
                "evaluate.segment_columns": ["static_plna"],
                "train.exclude_features": ["static_gendre"],
            },
            COLUMNS,
        )

    assert str(refused.value) == (
        "evaluate.segment_columns: 'static_plna' is not a column; did you mean 'static_plan'?; "
        "train.exclude_features: 'static_gendre' is not a column; did you mean 'static_gender'?"
    )


def test_names_unlike_any_column_are_returned_once_for_a_warning() -> None:
    """A family or export column absent from this data: the stage skips it and says so."""
    settings = {"a": ["static_region", "static_plan"], "b": ["static_region", "subscription_x"]}

    assert absent_names(settings, COLUMNS) == ["static_region", "subscription_x"]


def test_present_names_and_glob_patterns_pass() -> None:
    assert absent_names({"train.exclude_features": ["static_*", "rfm_spend_36?d"]}, COLUMNS) == []
    assert absent_names({"x": COLUMNS}, COLUMNS) == []


def test_a_column_this_export_lacks_is_no_typo_of_a_similar_long_name() -> None:
    """A ratio of string similarity took these for typos and stopped train (exit 2)."""
    columns = ["events_count_90d_email_click", "events_count_90d_email_open"]
    settings = {"train.exclude_features": ["events_count_90d_sms_click"]}
    settings["evaluate.segment_columns"] = ["events_count_90d_email_bounce"]

    assert absent_names(settings, columns) == [
        "events_count_90d_sms_click",
        "events_count_90d_email_bounce",
    ]
    with pytest.raises(SettingNameError, match="did you mean 'events_count_90d_email_open'"):
        absent_names({"x": ["events_count_90d_emial_open"]}, columns)


@pytest.mark.parametrize(
    ("first", "second", "edits"),
    [("ab", "ba", 1), ("kitten", "sitting", 3), ("", "abc", 3), ("static_plna", "static_plan", 1)],
)
def test_edit_distance_counts_swaps_as_one(first: str, second: str, edits: int) -> None:
    assert edit_distance(first, second) == edits == edit_distance(second, first)
