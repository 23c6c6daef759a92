"""Where the synthetic world's truth may be used: only for the data it describes."""

from __future__ import annotations

from pathlib import Path

from core.config import Config
from core.logging import get_logger

_log = get_logger(__name__)

CHURN_PROBABILITIES = "churn_probabilities"


def truth_folder(config: Config, comparison: str) -> Path | None:
    """The truth's churn-probability folder, or ``None`` (logged) when it cannot apply.

    The truth describes the world ``churn generate`` wrote to ``paths.synthetic_raw_dir``. With
    ``paths.raw_dir`` pointing at a company's own export, matching its customers to the synthetic
    world by id would give an "oracle" for strangers who happen to share an id.
    """
    paths = config.paths
    if paths.raw_dir.resolve() != paths.synthetic_raw_dir.resolve():
        _log.info(
            f"raw data is not the synthetic world: the {comparison} is skipped",
            raw_dir=str(paths.raw_dir),
            synthetic_raw_dir=str(paths.synthetic_raw_dir),
        )
        return None
    folder = paths.truth_dir / CHURN_PROBABILITIES
    if not folder.is_dir():
        _log.info(f"no truth folder: the {comparison} is skipped", folder=str(folder))
        return None
    return folder
