from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from offers.power import minimum_detectable_lift
from offers.report import (
    CampaignReportError,
    ReportSettings,
    campaign_outcomes,
    lift_table,
    newcombe_interval,
    render_markdown,
)
from offers.value import DAYS_PER_MONTH


@pytest.mark.parametrize(
    ("p_treated", "p_control", "n_treated", "n_control"),
    [(0.6, 0.5, 400, 100), (0.92, 0.9, 150, 40), (0.3, 0.3, 1000, 250)],
)
def test_interval_covers_the_true_lift_at_the_nominal_rate(
    p_treated: float, p_control: float, n_treated: int, n_control: int
) -> None:
    rng = np.random.default_rng(2024)
    simulations = 2000
    successes_t = rng.binomial(n_treated, p_treated, simulations)
    successes_c = rng.binomial(n_control, p_control, simulations)
    covered = 0
    for s_t, s_c in zip(successes_t, successes_c, strict=True):
        low, high = newcombe_interval(s_t, n_treated, s_c, n_control)
        covered += low <= p_treated - p_control <= high
    coverage = covered / simulations
    # 95% nominal; with 2000 runs the Monte Carlo standard error is 0.005
    assert 0.93 <= coverage <= 0.975


def test_interval_by_hand() -> None:
    # Newcombe (1998), table II example (method 10): 56/70 vs 48/80 -> [0.0524, 0.3339]
    low, high = newcombe_interval(56, 70, 48, 80)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-4)


def _log() -> pd.DataFrame:
    sent = pd.Timestamp("2024-03-01 10:00")
    return pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D"],
            "campaign_id": "CMP-1",
            "offer_id": ["o1", "o1", "o1", None],
            "sent_ts": sent,
            "group": ["treatment", "treatment", "control", "control"],
            "redeemed_ts": pd.NaT,
        }
    )


def _orders() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["A", "A", "B", "C", "D"],
            "order_ts": pd.to_datetime(
                ["2024-03-05", "2024-03-20", "2024-06-15", "2024-03-02", "2024-02-01"]
            ),
            "amount": [10.0, 30.0, 99.0, 5.0, 7.0],
            "status": ["completed", "completed", "completed", "cancelled", "completed"],
        }
    )


def test_outcomes_count_completed_orders_inside_the_horizon_only() -> None:
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    # A ordered twice inside; B after 90 days; C only a cancelled order; D before the send
    assert rows["retained"].tolist() == [True, False, False, False]
    assert rows["horizon_spend"].tolist() == [40.0, 0.0, 0.0, 0.0]


def test_lift_table_cost_and_net_gain() -> None:
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    settings = ReportSettings(unit_costs={"o1": 2.0}, gross_margin=0.5, value_periods=2.0)

    table = lift_table(rows, None, settings).set_index("offer_id")

    assert table.loc["o1", "lift"] == pytest.approx(0.5)  # 1/2 treated vs 0/2 control
    assert table.loc["o1", "cost"] == pytest.approx(4.0)
    # 1 extra customer retained, worth 2 periods * 0.5 margin * 40 spend = 40, minus cost 4
    assert table.loc["o1", "value_per_retained"] == pytest.approx(40.0)
    assert table.loc["o1", "net_gain"] == pytest.approx(36.0)
    # a control retention of 0 leaves the normal approximation nothing to say
    assert np.isnan(table.loc["o1", "detectable_lift"])


def test_the_report_shows_rates_in_percent_lifts_in_points_and_the_value_it_used() -> None:
    """It printed 0.522, -0.002 and 3.667 side by side, and no value per retained customer."""
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    settings = ReportSettings(unit_costs={"o1": 2.0}, gross_margin=0.5, value_periods=2.0)
    table = lift_table(rows, None, settings)

    report = render_markdown("CMP-1", rows, {"Per offer": table}, settings)

    header = next(line for line in report.splitlines() if line.startswith("| segment_by"))
    first = next(line for line in report.splitlines() if line.startswith("| all | all | o1"))
    cells = dict(zip(header.strip("| ").split(" | "), first.strip("| ").split(" | "), strict=True))
    assert cells["retention_treated"] == "50.0%" and cells["retention_control"] == "0.0%"
    assert cells["lift"] == "+50.0 pts"
    assert cells["extra_retained"] == "+1.0"
    assert cells["value_per_retained"] == "40.00"
    assert cells["cost"] == "4" and cells["net_gain"] == "+36"
    assert cells["detectable_lift"] == ""  # no power calculation at a control retention of 0
    assert "2 period(s) × 50% gross margin" in report


def test_lift_table_says_which_lift_the_arms_could_detect() -> None:
    rows = pd.DataFrame(
        {
            "group": ["treatment"] * 300 + ["control"] * 100,
            "offer_id": ["o1"] * 300 + [None] * 100,
            "retained": [True] * 240 + [False] * 60 + [True] * 70 + [False] * 30,
            "horizon_spend": 10.0,
        }
    )
    settings = ReportSettings(unit_costs={"o1": 1.0}, gross_margin=0.5, value_periods=1.0)
    table = lift_table(rows, None, settings).set_index("offer_id")
    assert table.loc["o1", "detectable_lift"] == pytest.approx(
        minimum_detectable_lift(300, 100, 0.7)
    )


def test_a_segment_without_treated_customers_gets_a_row_not_a_crash() -> None:
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    rows["country"] = ["FR", "FR", "FR", "DE"]  # DE: a control customer only
    settings = ReportSettings(unit_costs={"o1": 2.0}, gross_margin=0.5, value_periods=2.0)

    table = lift_table(rows, "country", settings).set_index(["segment", "offer_id"])

    for offer in ("o1", "any"):
        assert table.loc[("DE", offer), "treated"] == 0
        assert table.loc[("DE", offer), "cost"] == 0.0
        assert np.isnan(table.loc[("DE", offer), "lift"])
    assert table.loc[("FR", "o1"), "cost"] == pytest.approx(4.0)


def test_an_offer_missing_from_the_catalogue_has_an_unknown_cost_not_a_free_one() -> None:
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    settings = ReportSettings(unit_costs={"retired": 2.0}, gross_margin=0.5, value_periods=2.0)

    table = lift_table(rows, None, settings).set_index("offer_id")

    assert np.isnan(table.loc["o1", "cost"]) and np.isnan(table.loc["o1", "net_gain"])
    assert table.loc["o1", "lift"] == pytest.approx(0.5)
    report = render_markdown("CMP-1", rows, {"Per offer": table.reset_index()}, settings)
    assert "Unknown unit cost for o1 (not in `offers.catalog`" in report
    assert "Unknown unit cost" not in render_markdown(
        "CMP-1", rows, {}, ReportSettings({"o1": 2.0}, gross_margin=0.5, value_periods=2.0)
    )


def test_unknown_campaign_and_unfinished_horizon_are_refused() -> None:
    with pytest.raises(CampaignReportError, match=r"CMP-9.*known campaigns: CMP-1"):
        campaign_outcomes(_log(), _orders(), "CMP-9", 90, pd.Timestamp("2025-01-01"))
    with pytest.raises(CampaignReportError, match="after the latest data"):
        campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2024-04-01"))


@pytest.mark.parametrize("arm", ["control", "treatment"])
def test_a_campaign_without_one_of_its_arms_is_refused_naming_it(arm: str) -> None:
    """Lift is treatment minus control: without one the report would print nan intervals."""
    log = _log()
    log = log[log["group"] != arm]

    with pytest.raises(CampaignReportError, match=f"CMP-1: no {arm} rows among its 2"):
        campaign_outcomes(log, _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))


def test_a_campaign_sent_over_several_days_waits_for_its_last_sends_window() -> None:
    log = _log()
    log.loc[3, "sent_ts"] = pd.Timestamp("2024-04-15 10:00")  # a late send, 45 days after
    first_window_over = pd.Timestamp("2024-06-01")  # 92 days after the first send only

    with pytest.raises(CampaignReportError, match="last send ends 2024-07-14"):
        campaign_outcomes(log, _orders(), "CMP-1", 90, first_window_over)
    rows = campaign_outcomes(log, _orders(), "CMP-1", 90, pd.Timestamp("2024-07-14"))
    assert len(rows) == 4


def test_the_outcome_window_runs_from_the_send_days_midnight_for_horizon_days() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "order_ts": pd.to_datetime(["2024-03-01 00:00", "2024-05-30 00:00"]),
            "amount": [10.0, 20.0],
            "status": "completed",
        }
    )

    rows = campaign_outcomes(_log(), orders, "CMP-1", 90, pd.Timestamp("2025-01-01"))

    # A ordered at 00:00 of the send day (sent 10:00): inside; B exactly 90 days later: outside
    assert rows.set_index("customer_id").loc[["A", "B"], "retained"].tolist() == [True, False]


def test_outcomes_count_orders_without_a_status_as_completed() -> None:
    """An export without a ``status`` column reads as nulls: those orders are purchases (as in
    the churn label), so the report must not call every customer churned."""
    orders = _orders().assign(status=pd.Series([None] * 5, dtype="string"))
    rows = campaign_outcomes(_log(), orders, "CMP-1", 90, pd.Timestamp("2025-01-01"))
    assert rows.set_index("customer_id")["retained"].to_dict() == {
        "A": True,
        "B": False,
        "C": True,
        "D": False,
    }


def test_under_the_subscription_definition_retained_means_covered_after_the_horizon() -> None:
    """Sent 2024-03-01, horizon 90 days: the label's day is 2024-05-30."""
    subscriptions = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "C"],
            "start_date": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-01-01", "2024-05-30"]),
            "end_date": pd.to_datetime([None, "2024-05-29", "2024-03-10", None]),
            "mrr": [DAYS_PER_MONTH, 2 * DAYS_PER_MONTH, DAYS_PER_MONTH, 5.0],
        }
    )

    rows = campaign_outcomes(
        _log(),
        _orders(),
        "CMP-1",
        90,
        pd.Timestamp("2025-01-01"),
        subscriptions=subscriptions,
        definition="subscription",
    ).set_index("customer_id")

    # A runs on; B's ends the day before; C renewed on the day itself; D has none
    assert rows["retained"].to_dict() == {"A": True, "B": False, "C": True, "D": False}
    # The horizon's 90 days at 1 a day plus A's orders (40); B's covers all 90 (its last day is
    # the horizon's) at 2 a day; C's first runs 10 days of it, the renewal none
    assert rows["horizon_spend"].tolist() == pytest.approx([90 + 40.0, 180.0, 10.0, 0.0])
    with pytest.raises(CampaignReportError, match="no subscriptions table"):
        campaign_outcomes(
            _log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"), definition="subscription"
        )


def test_an_arm_of_one_customer_still_gets_an_interval() -> None:
    """Wilson intervals are defined for n = 1: a tiny segment's lift is uncertain, not unknown."""
    low, high = newcombe_interval(1, 1, 1, 2)  # lift 1 - 1/2
    assert -1.0 <= low < 0.5 < high <= 1.0

    low, high = newcombe_interval(1, 2, 0, 1)  # lift 1/2 - 0
    assert -1.0 <= low < 0.5 < high <= 1.0


def test_lift_is_treated_minus_control_retention_per_offer_and_any_pools_them() -> None:
    rows = pd.DataFrame(
        {
            "group": ["treatment"] * 6 + ["control"] * 4,
            "offer_id": ["o1"] * 4 + ["o2"] * 2 + [None] * 4,
            "retained": [True, True, True, False, True, False, True, False, False, False],
            "horizon_spend": 10.0,
        }
    )
    settings = ReportSettings({"o1": 1.0, "o2": 1.0}, gross_margin=0.5, value_periods=1.0)

    table = lift_table(rows, None, settings).set_index("offer_id")

    # control keeps 1 of 4; o1 keeps 3 of 4, o2 1 of 2, any offer 4 of 6
    assert table["treated"].to_dict() == {"o1": 4, "o2": 2, "any": 6}
    assert table["lift"].to_dict() == pytest.approx({"o1": 0.5, "o2": 0.25, "any": 4 / 6 - 0.25})
    assert table.loc["o1", "cost"] == pytest.approx(4.0)
    assert table.loc["any", "cost"] == pytest.approx(6.0)
    low, high = newcombe_interval(3, 4, 1, 4)
    assert (table.loc["o1", "lift_ci_low"], table.loc["o1", "lift_ci_high"]) == (low, high)


def test_a_segment_without_control_customers_gets_a_row_not_a_crash() -> None:
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    rows["country"] = ["FR", "DE", "DE", "DE"]  # FR: a treated customer only
    settings = ReportSettings(unit_costs={"o1": 2.0}, gross_margin=0.5, value_periods=2.0)

    table = lift_table(rows, "country", settings).set_index(["segment", "offer_id"])

    assert table.loc[("FR", "o1"), "treated"] == 1 and table.loc[("FR", "o1"), "control"] == 0
    assert np.isnan(table.loc[("FR", "o1"), ["lift", "lift_ci_low", "lift_ci_high"]]).all()
    assert np.isnan(table.loc[("FR", "o1"), "detectable_lift"])


def test_an_offer_logged_only_on_control_rows_was_never_sent_so_costs_nothing() -> None:
    """The policy picks an offer for a held-out customer too; only treated rows are sends."""
    rows = campaign_outcomes(_log(), _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    rows.loc[rows["group"] == "control", "offer_id"] = "retired"
    settings = ReportSettings(unit_costs={"o1": 2.0}, gross_margin=0.5, value_periods=2.0)

    report = render_markdown("CMP-1", rows, {}, settings)

    assert "Unknown unit cost" not in report


def test_the_report_header_counts_treated_and_control_customers() -> None:
    log = pd.concat([_log(), _log().iloc[[0]].assign(customer_id="E")], ignore_index=True)
    rows = campaign_outcomes(log, _orders(), "CMP-1", 90, pd.Timestamp("2025-01-01"))
    settings = ReportSettings(unit_costs={"o1": 2.0}, gross_margin=0.5, value_periods=2.0)

    report = render_markdown("CMP-1", rows, {}, settings)

    assert "Sent 2024-03-01: 3 treated, 2 control." in report


def test_a_subscription_ending_on_the_day_after_the_horizon_still_retains() -> None:
    """End dates are inclusive, as in the subscription churn label."""
    subscriptions = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "start_date": pd.to_datetime(["2023-01-01", "2023-01-01"]),
            "end_date": pd.to_datetime(["2024-05-30", "2024-05-29"]),
            "mrr": [DAYS_PER_MONTH, DAYS_PER_MONTH],
        }
    )

    rows = campaign_outcomes(
        _log(),
        None,
        "CMP-1",
        90,
        pd.Timestamp("2025-01-01"),
        subscriptions=subscriptions,
        definition="subscription",
    ).set_index("customer_id")

    assert rows["retained"].to_dict() == {"A": True, "B": False, "C": False, "D": False}
