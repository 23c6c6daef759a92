from __future__ import annotations

import pytest

from core.names import SettingNameError, absent_names

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
