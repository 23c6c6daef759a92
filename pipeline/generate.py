"""DVC stage ``generate``: write the synthetic CRM world and its ground truth."""

from __future__ import annotations

from core.config import Config
from core.logging import get_logger
from synthetic.world import generate_world

_log = get_logger(__name__)


def run(config: Config) -> None:
    summary = generate_world(
        config.generate,
        seed=config.seed,
        raw_dir=config.paths.synthetic_raw_dir,
        truth_dir=config.paths.truth_dir,
    )
    _log.info("generated", **summary)


if __name__ == "__main__":
    import sys

    from pipeline.cli import app

    app(["generate", *sys.argv[1:]])
