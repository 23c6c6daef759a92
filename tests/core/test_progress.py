from __future__ import annotations

import pytest

from core.progress import track


def test_plain_progress_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    items = list(track(range(20), total=20, description="chunks"))

    assert items == list(range(20))
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("chunks: 2/20 (10%)")
    assert lines[-1].startswith("chunks: 20/20 (100%)")
