from __future__ import annotations

from pathlib import Path

from features.definitions import CATALOGUE, FAMILIES
from features.dictionary import main, render_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_committed_dictionary_is_what_the_code_generates() -> None:
    assert DOC.read_text(encoding="utf-8") == render_markdown(), (
        "docs/features.md is out of date; run `.venv/bin/python -m features.dictionary`"
    )


def test_every_feature_and_family_is_documented() -> None:
    text = render_markdown()

    for family in FAMILIES.values():
        assert f"## {family.title} (`{family.name}`)" in text
    for feature in CATALOGUE:
        shown = feature.name.replace("{", "<").replace("}", ">")
        assert f"| `{shown}` |" in text
    assert "| `events_count_90d_<event_type>` | 90 days | events |" in text


def test_main_writes_the_page(tmp_path: Path) -> None:
    target = tmp_path / "features.md"

    main([str(target)])

    assert target.read_text(encoding="utf-8") == render_markdown()
