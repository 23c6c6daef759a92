from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

import synthetic.chunk
from core.config import CampaignConfig, GenerateConfig, HazardConfig, TruthConfig
from synthetic.world import generate_world
from tests.synthetic.conftest import SEED, World, make_world, small_config

RAW_TABLES = ["customers", "events", "offers", "orders", "support_tickets"]


def _file_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_layout_is_one_parquet_part_per_chunk_and_no_subscriptions(world: World) -> None:
    assert sorted(path.name for path in world.raw_dir.iterdir()) == RAW_TABLES
    for table in RAW_TABLES:
        assert sorted(path.name for path in (world.raw_dir / table).iterdir()) == [
            "part-00000.parquet",
            "part-00001.parquet",
        ]
    assert sorted(path.name for path in world.truth_dir.iterdir()) == [
        "README.md",
        "churn_probabilities",
        "customers",
    ]


def test_summary_counts_match_the_files(world: World) -> None:
    for table in RAW_TABLES:
        assert world.summary["rows"][table] == pq.read_table(world.raw_dir / table).num_rows
    assert world.summary["rows"]["customers"] == 4_000
    assert world.summary["n_chunks"] == 2
    assert world.summary["rows"]["orders"] > 4_000
    assert world.summary["truth_rows"]["churn_probabilities"] == (
        pq.read_table(world.truth_dir / "churn_probabilities").num_rows
    )


def test_ninety_day_base_rate_is_within_the_configured_bounds(world: World) -> None:
    low, high = world.config.churn_rate_bounds
    assert (low, high) == (0.15, 0.30)
    assert low <= world.summary["churn_base_rate"] <= high
    assert low <= world.summary["mean_true_p_churn_no_offer"] <= high
    assert world.summary["churn_rate_within_bounds"] is True


def test_base_rate_outside_bounds_is_flagged_and_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = small_config(n_customers=600, chunk_customers=600, churn_rate_bounds=(0.5, 0.6))
    summary = make_world(tmp_path, config).summary
    assert summary["churn_base_rate"] < 0.5
    assert summary["churn_rate_within_bounds"] is False
    assert "churn base rate outside churn_rate_bounds" in capsys.readouterr().err


def test_same_seed_gives_byte_identical_files_whatever_n_jobs(world: World, tmp_path: Path) -> None:
    again = make_world(tmp_path, small_config(n_jobs=2))
    for original, repeat in ((world.raw_dir, again.raw_dir), (world.truth_dir, again.truth_dir)):
        original_files, repeated_files = _file_bytes(original), _file_bytes(repeat)
        assert sorted(original_files) == sorted(repeated_files)
        differing = [name for name, data in original_files.items() if repeated_files[name] != data]
        assert differing == []


def test_another_seed_gives_another_world(world: World, tmp_path: Path) -> None:
    other = make_world(tmp_path, small_config(), seed=SEED + 1)
    original, different = _file_bytes(world.raw_dir), _file_bytes(other.raw_dir)
    assert sorted(original) == sorted(different)
    assert all(original[name] != different[name] for name in original)


def test_a_failure_half_way_leaves_no_output_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    real_write_part = synthetic.chunk.write_part

    def write_then_fail(table: object, path: Path) -> None:
        if len(written) == 6:
            raise OSError("disk full")
        written.append(path)
        real_write_part(table, path)  # type: ignore[arg-type]

    monkeypatch.setattr(synthetic.chunk, "write_part", write_then_fail)
    with pytest.raises(OSError, match="disk full"):
        make_world(tmp_path, small_config())

    assert len(written) == 6
    assert list(tmp_path.iterdir()) == []


def test_a_failure_keeps_the_previous_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(n_customers=300, chunk_customers=300)
    previous = make_world(tmp_path, config)
    before = _file_bytes(tmp_path)

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(synthetic.chunk, "write_part", fail)
    with pytest.raises(OSError):
        generate_world(config, SEED + 1, raw_dir=previous.raw_dir, truth_dir=previous.truth_dir)

    assert _file_bytes(tmp_path) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw", "truth"]


def test_params_yaml_spells_out_every_generate_setting() -> None:
    """Every knob is visible (and DVC-tracked) in params.yaml, not hidden in a default."""
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    generate = params["generate"]
    assert set(generate) == set(GenerateConfig.model_fields)
    for section, model in (
        ("hazard", HazardConfig),
        ("campaigns", CampaignConfig),
        ("truth", TruthConfig),
    ):
        assert set(generate[section]) == set(model.model_fields), section
