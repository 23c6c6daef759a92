"""Campaign report: did the offers work? Realised retention of treatment vs control.

For one executed campaign of the offers log, a customer is retained by the churn label's
definition, measured from the send date: a completed order within ``horizon_days`` of the send
(``inactivity``), or a subscription still covering the first day after them (``subscription``).
Lift = retention(treatment) - retention(control), with a 95% Newcombe hybrid score interval
(Wilson intervals of each arm combined; Newcombe 1998, method 10), which keeps its coverage for
small arms and rates near 0 or 1 where the Wald interval does not. Control rows
are shared by every offer: the hold-out is drawn independently of the offer in the log.

``detectable_lift`` is the lift these arm sizes detect with 80% power at the control's retention
(``offers.power``): a lift interval spanning 0 with a large detectable lift means the campaign
was too small to tell, not that the offer does nothing.

Net gain = extra customers retained (lift × treated) × value per retained customer - cost of
the sends, with value per retained customer = ``value_periods`` × the mean realised margin of
retained treated customers over the horizon (orders, plus subscription revenue).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from features.labels import POPULATION_SOURCE
from offers.power import minimum_detectable_lift
from offers.value import completed_orders, next_period_subscription_margin

Z95 = float(stats.norm.ppf(0.975))


class CampaignReportError(ValueError):
    """The campaign is not in the offers log, or its outcome cannot be observed yet."""


def wilson_interval(successes: float, n: float, z: float = Z95) -> tuple[float, float]:
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(centre - half), float(centre + half)


def newcombe_interval(
    success_t: float, n_t: float, success_c: float, n_c: float, z: float = Z95
) -> tuple[float, float]:
    """95% interval of ``p_t - p_c`` (Newcombe's hybrid score method)."""
    if n_t <= 0 or n_c <= 0:
        return float("nan"), float("nan")
    p_t, p_c = success_t / n_t, success_c / n_c
    l_t, u_t = wilson_interval(success_t, n_t, z)
    l_c, u_c = wilson_interval(success_c, n_c, z)
    diff = p_t - p_c
    lower = diff - np.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2)
    upper = diff + np.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2)
    return float(lower), float(upper)


def campaign_outcomes(
    offers_log: pd.DataFrame,
    orders: pd.DataFrame | None,
    campaign_id: str,
    horizon_days: int,
    data_end: pd.Timestamp,
    *,
    subscriptions: pd.DataFrame | None = None,
    definition: str = "inactivity",
) -> pd.DataFrame:
    """The campaign's rows with ``retained`` (bool) and ``horizon_spend``.

    Retained follows the churn definition, measured from the send day: a completed order within
    the horizon (``inactivity``), or a subscription covering the first day after it
    (``subscription``). ``horizon_spend`` is what the customer paid over the horizon: completed
    orders, plus the subscription revenue the horizon covers. The definition's table is needed;
    the other one only adds to the spend.
    """
    rows = offers_log[offers_log["campaign_id"] == campaign_id].copy()
    if rows.empty:
        known = sorted(offers_log["campaign_id"].unique())
        raise CampaignReportError(
            f"campaign {campaign_id!r} is not in the offers log ({len(offers_log)} rows); "
            f"known campaigns: {', '.join(known[:20])}"
        )
    groups = rows["group"].value_counts()
    missing = [arm for arm in ("control", "treatment") if not groups.get(arm, 0)]
    if missing:
        raise CampaignReportError(
            f"campaign {campaign_id}: no {missing[0]} rows among its {len(rows):,} (groups: "
            f"{dict(groups)}); retention lift is treatment against control, so it needs both"
        )
    # Each row's window starts at its own send: a campaign sent over several days is complete
    # once its *last* send's window has passed.
    end = rows["sent_ts"].dt.normalize().max() + pd.Timedelta(days=horizon_days)
    if end > data_end:
        raise CampaignReportError(
            f"campaign {campaign_id}: the {horizon_days}-day outcome window of its last send "
            f"ends {end.date()}, after the latest data ({data_end.date()}); report it once the "
            f"horizon has passed"
        )
    retained: dict[str, np.ndarray] = {}
    spend = np.zeros(len(rows))
    if orders is not None:
        retained["inactivity"], order_spend = _order_outcomes(rows, orders, horizon_days)
        spend += order_spend
    if subscriptions is not None:
        retained["subscription"], revenue = _subscription_outcomes(
            rows, subscriptions, horizon_days
        )
        spend += revenue
    if definition not in retained:
        raise CampaignReportError(
            f"no {POPULATION_SOURCE[definition]} table: under the {definition} churn definition "
            f"a campaign's outcome is read from it"
        )
    rows["retained"] = retained[definition]
    rows["horizon_spend"] = spend
    return rows


def _order_outcomes(
    rows: pd.DataFrame, orders: pd.DataFrame, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a completed order within the horizon from the send day, and their amount."""
    completed = completed_orders(orders)
    merged = rows[["customer_id", "sent_ts"]].merge(
        completed[["customer_id", "order_ts", "amount"]], on="customer_id", how="left"
    )
    inside = (merged["order_ts"] >= merged["sent_ts"].dt.normalize()) & (
        merged["order_ts"] < merged["sent_ts"].dt.normalize() + pd.Timedelta(days=horizon_days)
    )
    spend = merged[inside].groupby("customer_id")["amount"].agg(["count", "sum"])
    ordered = rows["customer_id"].map(spend["count"]).fillna(0).to_numpy() > 0
    return ordered, rows["customer_id"].map(spend["sum"]).fillna(0.0).to_numpy()


def _subscription_outcomes(
    rows: pd.DataFrame, subscriptions: pd.DataFrame, horizon_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: a subscription covering the first day after the horizon (the subscription
    label's rule), and the subscription revenue the horizon covers."""
    keys = pd.DataFrame(
        {
            "customer_id": rows["customer_id"].to_numpy(),
            "cutoff_date": rows["sent_ts"].dt.normalize().dt.date.to_numpy(),
        }
    )
    revenue = next_period_subscription_margin(subscriptions, keys, horizon_days, 1.0)
    day_after = pd.to_datetime(keys["cutoff_date"]) + pd.Timedelta(days=horizon_days)
    merged = keys.assign(day=day_after, row=np.arange(len(keys))).merge(
        subscriptions[["customer_id", "start_date", "end_date"]], on="customer_id", how="inner"
    )
    end = pd.to_datetime(merged["end_date"])
    covers = (pd.to_datetime(merged["start_date"]) <= merged["day"]) & (
        end.isna() | (end >= merged["day"])
    )
    covered = np.zeros(len(keys), dtype=bool)
    covered[merged.loc[covers, "row"].to_numpy()] = True
    return covered, revenue.to_numpy()


@dataclass(frozen=True)
class ReportSettings:
    unit_costs: dict[str, float]
    gross_margin: float
    value_periods: float
    definition: str = "inactivity"
    """The churn definition retention is read by (:func:`campaign_outcomes`)."""
    horizon_days: int | None = None
    """The label horizon the outcomes were read over, quoted in the report's header."""


RETAINED = {
    "inactivity": "a completed order within the horizon after the send",
    "subscription": "a subscription still running on the first day after the horizon",
}


def lift_table(rows: pd.DataFrame, by: str | None, settings: ReportSettings) -> pd.DataFrame:
    """Per offer (all control rows as control) and, with ``by``, per segment value."""
    records = []
    control_all = rows[rows["group"] == "control"]
    treated_all = rows[rows["group"] == "treatment"]
    segments = [("all", slice(None))] if by is None else list(rows.groupby(by).groups.items())
    offer_ids = sorted(treated_all["offer_id"].dropna().unique())
    for segment, _ in segments:
        in_segment = (lambda f: f) if by is None else (lambda f, s=segment: f[f[by] == s])
        control = in_segment(control_all)
        for offer in [*offer_ids, "any"]:
            treated = in_segment(treated_all)
            if offer != "any":
                treated = treated[treated["offer_id"] == offer]
            records.append(_lift_record(treated, control, offer, segment, by, settings))
    return pd.DataFrame(records)


def _lift_record(
    treated: pd.DataFrame,
    control: pd.DataFrame,
    offer: str,
    segment: object,
    by: str | None,
    settings: ReportSettings,
) -> dict[str, object]:
    n_t, n_c = len(treated), len(control)
    s_t, s_c = float(treated["retained"].sum()), float(control["retained"].sum())
    lower, upper = newcombe_interval(s_t, n_t, s_c, n_c)
    rate_t = s_t / n_t if n_t else float("nan")
    rate_c = s_c / n_c if n_c else float("nan")
    detectable = minimum_detectable_lift(n_t, n_c, rate_c) if n_c else None
    lift = rate_t - rate_c
    # float64 before summing: an empty arm's text column would otherwise sum to ''. An offer no
    # longer in the catalogue has no known cost: the cost (and net gain) is unknown, not 0.
    unit_costs = treated["offer_id"].map(settings.unit_costs).astype("float64")
    cost = float(unit_costs.sum()) if unit_costs.notna().all() else float("nan")
    retained_margin = treated.loc[treated["retained"], "horizon_spend"].mean()
    value = settings.value_periods * settings.gross_margin * float(np.nan_to_num(retained_margin))
    extra = lift * n_t
    return {
        "segment_by": by or "all",
        "segment": str(segment),
        "offer_id": offer,
        "treated": n_t,
        "control": n_c,
        "retention_treated": rate_t,
        "retention_control": rate_c,
        "lift": lift,
        "lift_ci_low": lower,
        "lift_ci_high": upper,
        "detectable_lift": float("nan") if detectable is None else detectable,
        "extra_retained": extra,
        "value_per_retained": value,
        "cost": cost,
        "net_gain": extra * value - cost,
    }


def uncosted_offers(rows: pd.DataFrame, settings: ReportSettings) -> list[str]:
    """Offers the campaign sent that ``offers.catalog`` no longer lists: their cost is unknown."""
    sent = rows.loc[rows["group"] == "treatment", "offer_id"].dropna().unique()
    return sorted(str(offer) for offer in sent if offer not in settings.unit_costs)


def render_markdown(
    campaign_id: str,
    rows: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    settings: ReportSettings,
) -> str:
    sent = rows["sent_ts"].min()
    uncosted = uncosted_offers(rows, settings)
    lines = [
        f"# Campaign {campaign_id}",
        "",
        f"Sent {sent:%Y-%m-%d}: {int((rows['group'] == 'treatment').sum()):,} treated, "
        f"{int((rows['group'] == 'control').sum()):,} control. "
        f"Retained = {RETAINED[settings.definition]}"
        + (f" ({settings.horizon_days} days)" if settings.horizon_days else "")
        + ". "
        "Lift = retention treated − control in percentage points (pts), 95% Newcombe interval; "
        "detectable_lift = the lift these arm sizes detect with 80% power (blank: none can, "
        "since an arm is empty or too small, or the control's retention is 0 or 1); "
        "net gain = extra retained × value per retained customer − cost, where the value is "
        f"{settings.value_periods:g} period(s) × {settings.gross_margin:.0%} gross margin × the "
        "treated retained customers' mean spend within the horizon (orders, plus subscription "
        "revenue); extra_retained = lift × treated; cost = treated × unit cost (the control "
        "costs nothing). Each row compares its own treated customers with the control "
        "customers of its segment and values them by its own retained customers' spend, so "
        "rows do not add up to the `any` row or across segments. `lift.csv` holds the same "
        "tables unrounded (rates and lifts as fractions).",
        "",
        *(
            [
                f"Unknown unit cost for {', '.join(uncosted)} (not in `offers.catalog` in "
                "params.yaml): cost and net gain are blank in every row that counts its sends. "
                "List it in the catalogue to price this campaign.",
                "",
            ]
            if uncosted
            else []
        ),
        "![lift per offer](lift.png)",
        "",
    ]
    for name, table in tables.items():
        lines += [f"## {name}", "", _markdown_table(table), ""]
    return "\n".join(lines)


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = [
        "| "
        + " | ".join(_cell(name, value) for name, value in zip(table.columns, record, strict=True))
        + " |"
        for record in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


_CELL_FORMATS = {
    "treated": "{:,.0f}",
    "control": "{:,.0f}",
    "retention_treated": "{:.1%}",
    "retention_control": "{:.1%}",
    "lift": "{:+.1f} pts",
    "lift_ci_low": "{:+.1f} pts",
    "lift_ci_high": "{:+.1f} pts",
    "detectable_lift": "{:.1f} pts",
    "extra_retained": "{:+.1f}",
    "value_per_retained": "{:,.2f}",
    "cost": "{:,.0f}",
    "net_gain": "{:+,.0f}",
}
"""How the report shows each column: rates in %, lifts in percentage points, money rounded."""
_POINTS = {"lift", "lift_ci_low", "lift_ci_high", "detectable_lift"}


def _cell(column: str, value: object) -> str:
    if isinstance(value, float | int | np.number) and not isinstance(value, bool):
        number = float(value)
        if np.isnan(number):
            return ""
        if column in _POINTS:
            number *= 100
        return _CELL_FORMATS.get(column, "{:,.3f}").format(number + 0.0)
    return str(value)


def plot_lift(table: pd.DataFrame, path: Path) -> None:
    """Lift per offer with its 95% interval: the picture a retention team reads first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    positions = np.arange(len(table))
    lift, low, high = (100 * table[name] for name in ("lift", "lift_ci_low", "lift_ci_high"))
    axis.errorbar(lift, positions, xerr=[lift - low, high - lift], fmt="o", capsize=4)
    axis.axvline(0.0, color="grey", linewidth=1)
    axis.set_yticks(positions, table["offer_id"])
    axis.set_xlabel("retention lift (treated − control), percentage points, 95% CI")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
