"""The analysts' SHAP report: one self-contained HTML page (images embedded) plus its PNGs.

Sections, each with a figure and a plain-language caption: overview, global importance (mean
|SHAP| in probability points and log-odds) with a beeswarm, reason groups, dependence plots of
the top features coloured by their strongest interaction, drivers by segment, churners vs
stayers, waterfalls of example customers per risk tier, and the dictionary entries of the top
features. The page needs no network: every image is a base64 ``data:`` URI.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: DVC stages and CI have no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from core.atomic import write_text
from features.reason_templates import GROUPS, template_for
from models.explain import analysis
from models.explain.contributions import Explanation
from models.reasons import reason_codes

SECTIONS = (
    ("overview", "Overview"),
    ("importance", "Global importance"),
    ("beeswarm", "Beeswarm: every customer, every top feature"),
    ("groups", "Driver groups"),
    ("dependence", "Dependence plots"),
    ("segments", "Drivers by segment"),
    ("outcomes", "Churners vs stayers"),
    ("examples", "Example customers per risk tier"),
    ("dictionary", "Feature dictionary"),
)
"""(id, title) of every section, in page order; the browser test checks each is there."""

DPI = 100


@dataclass(frozen=True)
class ReportInputs:
    """What the report explains: the explanation of a set of labelled rows and its context."""

    explanation: Explanation
    churned: pd.Series
    segments: dict[str, pd.Series]
    title: str
    context: dict[str, str]
    top_features: int = 15
    dependence_features: int = 4
    plot_rows: int = 5000
    risk_tiers: Sequence[float] = (0.2, 0.5)
    seed: int = 0
    top_reasons: int = 3
    reason_min_log_odds: float = 0.0
    """The batch pipeline's and the service's reason settings, so the examples match theirs."""


@dataclass
class Report:
    """The page and its figures (PNG bytes by file name)."""

    html: str
    figures: dict[str, bytes] = field(default_factory=dict)

    def write(self, folder: Path, page_name: str = "shap_report.html") -> Path:
        """``folder/page_name`` and ``folder/shap/<figure>.png``; returns the page's path."""
        (folder / "shap").mkdir(parents=True, exist_ok=True)
        for name, png in self.figures.items():
            (folder / "shap" / name).write_bytes(png)
        page = folder / page_name
        write_text(page, self.html)
        return page


def build_report(inputs: ReportInputs) -> Report:
    """Draw every figure and assemble the page."""
    explanation = inputs.explanation
    rng = np.random.default_rng(inputs.seed)
    rows = len(explanation.contributions)
    plotted = np.sort(rng.choice(rows, size=min(rows, inputs.plot_rows), replace=False))
    table = analysis.importance(explanation)
    top = list(table.index[: inputs.top_features])
    figures: dict[str, bytes] = {}
    body: list[str] = []

    def figure(name: str, drawn: Any, alt: str, caption: str) -> str:
        figures[name] = _png(drawn)
        return _figure_html(name, figures[name], alt, caption)

    body.append(_section("overview", _overview(inputs, table)))
    body.append(
        _section(
            "importance",
            figure(
                "importance.png",
                _importance_figure(table.head(inputs.top_features)),
                "bar chart of mean absolute SHAP per feature",
                "How much each feature moves the churn risk on average, whatever the direction: "
                "left in probability points (what a score of 0.30 vs 0.25 means), right in "
                "log-odds of the model's raw score (what SHAP adds up exactly). Longer bars "
                "matter more.",
            ),
        )
    )
    np.random.seed(inputs.seed)  # shap's beeswarm shuffles points with the global generator
    body.append(
        _section(
            "beeswarm",
            figure(
                "beeswarm.png",
                _beeswarm(explanation, plotted, top),
                "beeswarm of SHAP values",
                f"One dot per customer ({len(plotted)} drawn) and feature, in log-odds. Right of "
                "the line the feature raises the customer's risk, left it lowers it; red is a "
                "high value of the feature, blue a low one (for categories: the category's "
                "code). Read a feature as: which values push risk which way.",
            ),
        )
    )
    groups = analysis.group_importance(explanation)
    body.append(
        _section(
            "groups",
            figure(
                "groups.png",
                _bar(groups["mean_abs_probability"], "mean |SHAP| (probability points, 0–1 scale)"),
                "bar chart of driver groups",
                "Features that tell one story are added up first (all support features make "
                "'support friction'), so a driver spread over ten correlated columns shows as "
                "one bar. Actionable groups are ones the business can change.",
            )
            + _html_table(_group_table(groups)),
        )
    )
    body.append(_section("dependence", _dependence(inputs, plotted, top, figures)))
    drivers = analysis.segment_drivers(explanation, inputs.segments)
    body.append(
        _section(
            "segments",
            figure(
                "segments.png",
                _heatmap(drivers, "mean summed SHAP (probability points, 0–1 scale)"),
                "heatmap of drivers per segment",
                "Which driver groups push risk up (red) or down (blue) on average in each segment "
                f"({_segment_names(inputs.segments)}; customers per segment in brackets). Compare "
                "a row with the others: a driver that is red only for new customers is a "
                "new-customer problem.",
            )
            if not drivers.empty
            else "<p>No segment has enough rows to compare.</p>",
        )
    )
    outcomes = analysis.outcome_drivers(explanation, inputs.churned)
    body.append(
        _section(
            "outcomes",
            figure(
                "outcomes.png",
                _outcome_figure(outcomes),
                "bars of drivers for churners and stayers",
                "Mean contribution per driver group for customers who then churned and for those "
                "who stayed (probability points, 0–1 scale). Groups at the top separate the two "
                "most: they are what the model sees in leavers.",
            ),
        )
    )
    body.append(_section("examples", _examples(inputs, figures)))
    body.append(_section("dictionary", _dictionary(table.head(inputs.top_features))))
    return Report(html=_page(inputs.title, body), figures=figures)


# --- figures -----------------------------------------------------------------------------------


def _importance_figure(table: pd.DataFrame) -> Any:
    figure, axes = plt.subplots(1, 2, figsize=(12, 0.35 * len(table) + 1.5), sharey=True)
    labels = list(table.index)[::-1]
    axes[0].barh(labels, table["mean_abs_probability"][::-1], color="#1f77b4")
    axes[0].set(xlabel="mean |SHAP| (probability points, 0–1 scale)")
    axes[1].barh(labels, table["mean_abs_log_odds"][::-1], color="#ff7f0e")
    axes[1].set(xlabel="mean |SHAP| (log-odds)")
    figure.tight_layout()
    return figure


def _bar(series: pd.Series, xlabel: str) -> Any:
    figure, axis = plt.subplots(figsize=(8, 0.4 * len(series) + 1.2))
    axis.barh(list(series.index)[::-1], series.to_numpy()[::-1], color="#2ca02c")
    axis.set(xlabel=xlabel)
    figure.tight_layout()
    return figure


def _numeric(values: pd.DataFrame) -> pd.DataFrame:
    """Feature values as numbers for colouring: categories become their category codes."""
    numeric = values.copy()
    for column in numeric.columns:
        if not pd.api.types.is_numeric_dtype(numeric[column]):
            numeric[column] = pd.Categorical(numeric[column].astype(str)).codes.astype(float)
    return numeric.astype(float)


def _shap_explanation(explanation: Explanation, rows: np.ndarray, features: list[str]) -> Any:
    import shap

    return shap.Explanation(
        values=explanation.contributions[features].to_numpy()[rows],
        base_values=np.full(len(rows), explanation.base_value),
        data=_numeric(explanation.values[features]).to_numpy()[rows],
        feature_names=features,
    )


def _beeswarm(explanation: Explanation, rows: np.ndarray, features: list[str]) -> Any:
    import shap

    plt.figure()
    shap.plots.beeswarm(
        _shap_explanation(explanation, rows, features), max_display=len(features), show=False
    )
    figure = plt.gcf()
    figure.set_size_inches(10, 0.4 * len(features) + 1.5)
    figure.tight_layout()
    return figure


def _dependence(
    inputs: ReportInputs, rows: np.ndarray, top: list[str], figures: dict[str, bytes]
) -> str:
    import shap

    explanation = inputs.explanation
    features = list(explanation.contributions.columns)
    full = _shap_explanation(explanation, rows, features)
    parts = []
    for feature in top[: inputs.dependence_features]:
        index = features.index(feature)
        order = shap.utils.approximate_interactions(index, full.values, full.data)
        partner = next(features[i] for i in order if i != index)
        plt.figure()
        shap.plots.scatter(full[:, feature], color=full[:, partner], show=False)
        figure = plt.gcf()
        figure.set_size_inches(7, 4.5)
        figure.tight_layout()
        name = f"dependence_{feature}.png"
        figures[name] = _png(figure)
        parts.append(
            _figure_html(
                name,
                figures[name],
                f"dependence plot of {feature}",
                f"<code>{html.escape(feature)}</code>: its value (x) against its SHAP value "
                f"(y, log-odds) per customer. Colour: <code>{html.escape(partner)}</code>, the "
                "feature it interacts with most; where colours separate vertically, the same "
                f"value of {html.escape(feature)} matters more or less depending on it. "
                f"{html.escape(template_for(feature).definition.description)}",
                escape_caption=False,
            )
        )
    return "\n".join(parts) or "<p>No dependence plots requested.</p>"


def _heatmap(table: pd.DataFrame, label: str) -> Any:
    figure, axis = plt.subplots(figsize=(1.0 * len(table.columns) + 3, 0.45 * len(table) + 2.5))
    limit = float(np.nanmax(np.abs(table.to_numpy()))) or 1.0
    image = axis.imshow(table.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    axis.set_xticks(range(len(table.columns)), table.columns, rotation=40, ha="right")
    axis.set_yticks(range(len(table)), table.index)
    figure.colorbar(image, ax=axis, label=label)
    figure.tight_layout()
    return figure


def _outcome_figure(table: pd.DataFrame) -> Any:
    figure, axis = plt.subplots(figsize=(9, 0.5 * len(table) + 1.5))
    positions = np.arange(len(table))[::-1]
    axis.barh(positions + 0.2, table["churners"], height=0.4, label="churned", color="#d62728")
    axis.barh(positions - 0.2, table["stayers"], height=0.4, label="stayed", color="#1f77b4")
    axis.set_yticks(positions, table.index)
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set(xlabel="mean summed SHAP (probability points, 0–1 scale)")
    axis.legend()
    figure.tight_layout()
    return figure


def _examples(inputs: ReportInputs, figures: dict[str, bytes]) -> str:
    import shap

    explanation = inputs.explanation
    points = explanation.probability_contributions()
    features = list(explanation.contributions.columns)
    parts = []
    for tier, row in analysis.tier_examples(explanation, inputs.risk_tiers).items():
        single = shap.Explanation(
            values=points.iloc[row].to_numpy(),
            base_values=explanation.base_probability,
            data=_numeric(explanation.values).iloc[row].to_numpy(),
            display_data=explanation.values.iloc[row].to_numpy(dtype=object),  # "ES", not a code
            feature_names=features,
        )
        plt.figure()
        shap.plots.waterfall(single, max_display=10, show=False)
        figure = plt.gcf()
        _name_the_base(figure)
        figure.set_size_inches(9, 5.5)
        figure.tight_layout()
        name = f"waterfall_{tier.replace(' ', '_')}.png"
        figures[name] = _png(figure)
        codes = reason_codes(
            explanation.contributions.iloc[row],
            explanation.values.iloc[row],
            top_k=inputs.top_reasons,
            include_lowering=True,
            min_contribution=inputs.reason_min_log_odds,
        )
        reasons = "".join(
            f"<li>{'▲' if c.direction == 'raises' else '▼'} {html.escape(c.text)} "
            f"<small>({html.escape(c.group)}{', actionable' if c.actionable else ''})</small>"
            "</li>"
            for c in codes
        )
        probability = explanation.churn_probability[row]
        parts.append(
            f"<h3>{html.escape(tier.capitalize())} risk</h3>"
            + _figure_html(
                name,
                figures[name],
                f"waterfall of a {tier}-risk customer",
                f"A typical {tier}-risk customer: churn probability {probability:.0%} "
                f"(log-odds margin {explanation.margin[row]:+.2f}). Starting from the base "
                f"probability {explanation.base_probability:.0%} (what the model serves at its "
                "base log-odds, not the average score), each bar is one feature's push in "
                "probability points (0–1 scale; the base is labelled 'base'); the rest are "
                "summed in the last bar. Reason codes:"
                f"<ul class='reasons'>{reasons}</ul>",
                escape_caption=False,
            )
        )
    return "\n".join(parts)


def _segment_names(segments: Mapping[str, Any]) -> str:
    """The segmentations in a caption: "plan, country, value band, tenure band" (as configured
    in ``explain.segment_columns``; the bands are named after what they cut)."""
    return ", ".join(f"{name} band" if name in ("value", "tenure") else name for name in segments)


def _name_the_base(figure: Any) -> None:
    """shap labels the waterfall's start ``E[f(X)]``, the average output; here it is the base
    probability, which the caption says is not the average score, so the label says "base"."""
    for axis in figure.axes:
        labels = [label.get_text() for label in axis.get_xticklabels()]
        if any("E[f(X)]" in label for label in labels):
            renamed = [label.replace("$E[f(X)]$", "base") for label in labels]
            axis.set_xticks(axis.get_xticks(), renamed)


def _png(figure: Any) -> bytes:
    """``figure`` as PNG bytes, cropped to what it draws: shap's waterfall puts its ``f(x)``
    label outside the axes, where a fixed canvas cut the predicted probability short."""
    buffer = io.BytesIO()
    figure.savefig(
        buffer,
        format="png",
        dpi=DPI,
        bbox_inches="tight",
        pad_inches=0.1,
        metadata={"Software": None},
    )
    plt.close(figure)
    return buffer.getvalue()


# --- html --------------------------------------------------------------------------------------


def _overview(inputs: ReportInputs, table: pd.DataFrame) -> str:
    explanation = inputs.explanation
    facts = {
        **inputs.context,
        "test-cutoff customers explained": f"{len(explanation.contributions):,}",
        "SHAP path": explanation.path,
        "base value": f"{explanation.base_value:+.3f} log-odds (raw model output), served as "
        f"{explanation.base_probability:.1%} after calibration",
        "largest additivity error": f"{explanation.additivity_error:.1e}",
    }
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in facts.items()
    )
    leader = table.index[0]
    return (
        f"<table class='facts'>{rows}</table>"
        "<p>SHAP splits each customer's score into one contribution per feature. They add up "
        "exactly in <b>log-odds</b> of the model's raw score (base value + contributions = "
        "score); <b>probability points</b> scale each customer's contributions so they add up "
        "to their calibrated churn probability minus the base probability (what the model "
        "serves at its base log-odds, not the average score), on the 0–1 scale of a "
        "probability: 0.05 is 5 percentage points. Positive means the feature raises churn "
        "risk.</p>"
        f"<p>The strongest driver overall is <code>{html.escape(leader)}</code> "
        f"({html.escape(template_for(leader).definition.description)})</p>"
    )


def _group_table(groups: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for group, values in groups.iterrows():
        definition = GROUPS[str(group)]
        rows.append(
            {
                "group": group,
                "mean |SHAP| (probability points, 0–1 scale)": (
                    f"{values['mean_abs_probability']:.4f}"
                ),
                "mean |SHAP| (log-odds)": f"{values['mean_abs_log_odds']:.3f}",
                "actionable": "yes" if definition.actionable else "no",
                "what to do": definition.action,
            }
        )
    return pd.DataFrame(rows)


def _dictionary(table: pd.DataFrame) -> str:
    rows = []
    for feature, values in table.iterrows():
        definition = template_for(str(feature)).definition
        rows.append(
            {
                "feature": feature,
                "group": values["group"],
                "window": "—" if definition.window_days is None else f"{definition.window_days} d",
                "unit": definition.unit,
                "meaning": definition.description,
                "mean |SHAP| (log-odds)": f"{values['mean_abs_log_odds']:.3f}",
            }
        )
    return (
        "<p>The top features as the feature dictionary (docs/features.md) defines them.</p>"
        + _html_table(pd.DataFrame(rows))
    )


def _html_table(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    return f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _figure_html(name: str, png: bytes, alt: str, caption: str, escape_caption: bool = True) -> str:
    data = base64.b64encode(png).decode("ascii")
    text = html.escape(caption) if escape_caption else caption
    return (
        f"<figure data-name='{html.escape(name)}'><img src='data:image/png;base64,{data}' "
        f"alt='{html.escape(alt)}'><figcaption>{text}</figcaption></figure>"
    )


def _section(section_id: str, content: str) -> str:
    title = dict(SECTIONS)[section_id]
    return f"<section id='{section_id}'><h2>{html.escape(title)}</h2>{content}</section>"


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#444;font-size:.92em;margin-top:.4em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
nav a{margin-right:1em}ul.reasons{margin:.3em 0}
"""


def _page(title: str, sections: list[str]) -> str:
    nav = "".join(f"<a href='#{sid}'>{html.escape(name)}</a>" for sid, name in SECTIONS)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><nav>{nav}</nav>" + "\n".join(sections) + "</body></html>\n"
    )
