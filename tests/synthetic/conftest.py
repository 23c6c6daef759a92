"""Small synthetic worlds shared by the tests of ``synthetic/`` (generated once per session)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.config import GenerateConfig
from synthetic.world import generate_world

SEED = 7


@dataclass(frozen=True)
class World:
    """A generated world: its config, folders and the summary ``generate_world`` returned."""

    config: GenerateConfig
    raw_dir: Path
    truth_dir: Path
    summary: dict[str, Any]

    def raw(self, table: str) -> pd.DataFrame:
        return pq.read_table(self.raw_dir / table).to_pandas()

    def truth(self, table: str) -> pd.DataFrame:
        return pq.read_table(self.truth_dir / table).to_pandas()


def small_config(**changes: Any) -> GenerateConfig:
    """The default world, shrunk: two chunks of 2,000 customers, generated in-process."""
    settings: dict[str, Any] = {"n_customers": 4_000, "chunk_customers": 2_000, "n_jobs": 1}
    return GenerateConfig(**(settings | changes))


def make_world(root: Path, config: GenerateConfig, seed: int = SEED) -> World:
    raw_dir, truth_dir = root / "raw", root / "truth"
    summary = generate_world(config, seed=seed, raw_dir=raw_dir, truth_dir=truth_dir)
    return World(config=config, raw_dir=raw_dir, truth_dir=truth_dir, summary=summary)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("world"), small_config())


@pytest.fixture(scope="session")
def tables(world: World) -> dict[str, pd.DataFrame]:
    """The raw tables of ``world`` plus ``truth_customers`` and ``truth_probabilities``."""
    loaded = {
        name: world.raw(name)
        for name in ("customers", "orders", "events", "support_tickets", "offers")
    }
    loaded["truth_customers"] = world.truth("customers")
    loaded["truth_probabilities"] = world.truth("churn_probabilities")
    return loaded
