"""The analysts' report: every section, embedded images equal to the PNGs, no network needed."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from models.explain import analysis
from models.explain.report import (
    DPI,
    SECTIONS,
    Report,
    ReportInputs,
    _name_the_base,
    _png,
    build_report,
)
from tests.models.explained import explained_test_rows

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_report() -> Report:
    explanation, test = explained_test_rows()
    return build_report(
        ReportInputs(
            explanation=explanation,
            churned=test["churned"],
            segments=analysis.segments(
                test, ["static_plan"], "rfm_spend_365d", "lifecycle_days_since_signup", 2
            ),
            title="Test report",
            context={"test cutoff": "2024-08-28"},
            top_features=5,
            dependence_features=2,
            plot_rows=100,
            risk_tiers=(0.3, 0.6),
        )
    )


@pytest.fixture(scope="module")
def report() -> Report:
    return small_report()


def test_every_section_is_there_with_its_title(report: Report) -> None:
    for section_id, title in SECTIONS:
        assert f"<section id='{section_id}'><h2>{title}</h2>" in report.html


def test_images_are_embedded_pngs_identical_to_the_written_files(
    report: Report, tmp_path: Path
) -> None:
    page = report.write(tmp_path)
    embedded = dict(
        re.findall(
            r"<figure data-name='([^']+)'><img src='data:image/png;base64,([^']+)'", report.html
        )
    )

    assert page == tmp_path / "shap_report.html"
    assert set(embedded) == set(report.figures)
    for name, data in embedded.items():
        png = base64.b64decode(data)
        assert png.startswith(PNG_SIGNATURE)
        assert (tmp_path / "shap" / name).read_bytes() == png


def test_figures_cover_importance_beeswarm_dependence_segments_outcomes_and_tiers(
    report: Report,
) -> None:
    explanation, _ = explained_test_rows()
    tiers = analysis.tier_examples(explanation, (0.3, 0.6))

    names = set(report.figures)

    assert {"importance.png", "beeswarm.png", "groups.png", "segments.png", "outcomes.png"} <= names
    assert len([n for n in names if n.startswith("dependence_")]) == 2
    assert {f"waterfall_{tier}.png" for tier in tiers} == {
        n for n in names if n.startswith("waterfall_")
    }
    assert len(tiers) >= 2


def test_page_is_self_contained_and_quotes_the_feature_dictionary(report: Report) -> None:
    assert not re.search(r"(src|href)=['\"]https?:", report.html)
    assert "Days from the latest completed order to the cutoff" in report.html
    assert "probability points" in report.html and "log-odds" in report.html
    assert "<th>actionable</th>" in report.html
    # one definition of probability points, the waterfalls' (README: explanations)
    assert "minus the average one" not in report.html
    assert "churn probability minus the base probability" in report.html


def test_the_waterfalls_label_their_start_base_not_the_average_output() -> None:
    """shap's "E[f(X)] = 0.461" read as the average score, which the caption says it is not."""
    import numpy as np
    import shap

    single = shap.Explanation(
        values=np.array([0.1, -0.05]),
        base_values=0.46,
        data=np.array([3.0, 1.0]),
        feature_names=["a", "b"],
    )
    plt.figure()
    shap.plots.waterfall(single, show=False)
    figure = plt.gcf()

    _name_the_base(figure)
    figure.canvas.draw()  # tick labels are laid out again when drawn

    labels = [label.get_text() for axis in figure.axes for label in axis.get_xticklabels()]
    plt.close(figure)
    assert "base" in [label.strip() for label in labels]
    assert not any("E[f(X)]" in label for label in labels)


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's IHDR chunk."""
    assert png.startswith(PNG_SIGNATURE)
    return struct.unpack(">II", png[16:24])


def test_a_label_drawn_past_the_canvas_edge_is_kept_in_the_image() -> None:
    """shap's waterfall writes ``f(x) = 0.999`` past the figure's right edge; a PNG of the fixed
    canvas cut the predicted probability short."""
    figure = plt.figure(figsize=(4, 3))
    figure.add_subplot().plot([0, 1])
    figure.text(0.97, 0.5, "f(x) = 0.999")  # starts inside the canvas, ends past its edge

    width, _ = png_size(_png(figure))

    assert width > 4 * DPI


def test_the_segment_caption_names_the_segments_configured() -> None:
    """It always read "(plan, value band, tenure band; ...)", whatever explain.segment_columns."""
    from models.explain.report import _segment_names

    assert _segment_names({"plan": 1, "country": 2, "value": 3, "tenure": 4}) == (
        "plan, country, value band, tenure band"
    )
