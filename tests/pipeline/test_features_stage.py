from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from structlog.testing import capture_logs
from typer.testing import CliRunner

from core.config import Config, GenerateConfig
from features.build import build_features
from features.cutoffs import ROW_ORDER
from features.engine import Output, connect, write_outputs
from features.partitions import plan_slices
from features.sources import load_raw_tables
from pipeline.cli import app
from synthetic.world import generate_world
from tests.crm.raw_fixtures import write_valid_raw

runner = CliRunner()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny generated world and a params file that builds 3 cutoffs into ``out/features``."""
    root = tmp_path_factory.mktemp("project")
    config = GenerateConfig(n_customers=300, chunk_customers=300, n_jobs=1)
    generate_world(config, seed=3, raw_dir=root / "raw", truth_dir=root / "truth")
    (root / "params.yaml").write_text(
        "paths:\n  raw_dir: raw\n  features_dir: out/features\n"
        "features:\n  cutoffs: {every_days: 30, count: 3}\n"
        "  duckdb: {temp_directory: tmp/duckdb}\n",
        encoding="utf-8",
    )
    return root


def params_variant(project: Path, name: str, *replacements: tuple[str, str]) -> None:
    """Write ``name`` next to the project's params: its text with ``replacements`` applied."""
    text = (project / "params.yaml").read_text(encoding="utf-8")
    for old, new in replacements:
        text = text.replace(old, new)
    (project / name).write_text(text, encoding="utf-8")


def raw_variant(project: Path, name: str) -> Path:
    """A copy of the project's raw folder at ``raw_<name>``, for the test to edit, and
    ``<name>.yaml``: the params building it into ``out/<name>``."""
    raw = project / f"raw_{name}"
    shutil.copytree(project / "raw", raw)
    params_variant(
        project,
        f"{name}.yaml",
        ("raw_dir: raw", f"raw_dir: raw_{name}"),
        ("features_dir: out/features", f"features_dir: out/{name}"),
    )
    return raw


def append_row(table_dir: Path, **values: object) -> None:
    """One more Parquet part in ``table_dir``: its first row with ``values`` in place."""
    template = pq.read_table(next(table_dir.glob("*.parquet")))
    row = {name: [template.column(name)[0].as_py()] for name in template.column_names}
    row |= {name: [value] for name, value in values.items()}
    pq.write_table(pa.table(row, schema=template.schema), table_dir / "zz-appended.parquet")


def features(project: Path, params: str = "params.yaml") -> tuple[int, str]:
    result = runner.invoke(app, ["features", "--params", str(project / params)])
    return result.exit_code, result.output


def test_stage_writes_training_snapshot_and_manifest(project: Path) -> None:
    exit_code, output = features(project)

    assert exit_code == 0, output
    folder = project / "out" / "features"
    assert sorted(path.name for path in folder.iterdir()) == [
        "manifest.json",
        "snapshot.parquet",
        "training.parquet",
    ]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    training = pq.read_table(folder / "training.parquet")
    snapshot = pq.read_table(folder / "snapshot.parquet")
    # the world ends 2024-12-31: snapshot the day after; 90-day horizon, every 30 days back
    assert manifest["snapshot_date"] == "2025-01-01"
    assert manifest["cutoffs"] == ["2024-08-04", "2024-09-03", "2024-10-03"]
    assert training.column_names == ["customer_id", "cutoff_date", *manifest["features"], "churned"]
    assert snapshot.column_names == ["customer_id", "cutoff_date", *manifest["features"]]
    assert manifest["rows"]["training"]["total"] == training.num_rows > 0
    assert manifest["rows"]["snapshot"]["total"] == snapshot.num_rows > 0
    per_cutoff = manifest["rows"]["training"]["per_cutoff"]
    assert list(per_cutoff) == manifest["cutoffs"]
    assert sum(per_cutoff.values()) == training.num_rows
    assert set(snapshot.column("cutoff_date").to_pylist()) == {dt.date(2025, 1, 1)}
    assert set(training.column("churned").to_pylist()) == {0, 1}
    assert len(manifest["feature_definitions_hash"]) == 64
    assert "events_count_90d_web_session" in manifest["features"]
    # The synthetic world has no subscriptions table.
    assert manifest["families_off"] == {"subscription": "table(s) subscriptions absent"}
    assert manifest["cut_short"]["cutoffs"] == []  # 3 cutoffs in 2024 of a world from 2023
    assert manifest["event_types_unseen"] == {}


def test_a_second_run_writes_the_same_bytes(project: Path) -> None:
    folder = project / "out" / "features"
    assert features(project)[0] == 0
    before = {path.name: path.read_bytes() for path in folder.iterdir()}

    assert features(project)[0] == 0

    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_definition_without_its_table_exits_1_and_keeps_the_old_output(project: Path) -> None:
    assert features(project)[0] == 0
    manifest = (project / "out" / "features" / "manifest.json").read_bytes()
    (project / "subscription.yaml").write_text(
        (project / "params.yaml").read_text(encoding="utf-8")
        + "churn:\n  definition: subscription\n",
        encoding="utf-8",
    )

    exit_code, output = features(project, "subscription.yaml")

    assert exit_code == 1
    assert "needs the subscriptions table" in output
    assert (project / "out" / "features" / "manifest.json").read_bytes() == manifest


def test_a_missing_customers_table_is_refused_before_any_engine_starts(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Spark the session takes seconds to start; a missing table is known without it."""
    raw = raw_variant(project, "no_customers")
    shutil.rmtree(raw / "customers")
    params_variant(
        project,
        "no_customers_spark.yaml",
        ("raw_dir: raw", "raw_dir: raw_no_customers"),
        ("features_dir: out/features", "features_dir: out/no_customers"),
        ("features:\n", "features:\n  engine: spark\n"),
    )
    started: list[str] = []
    monkeypatch.setattr(
        "pipeline.features.connect", lambda settings: started.append(settings.engine)
    )

    exit_code, output = features(project, "no_customers_spark.yaml")

    assert exit_code == 1
    assert "customers" in output and "required table missing" in output
    assert started == []
    assert not (project / "out" / "no_customers").exists()


def test_a_subscriptions_export_gets_subscription_features_and_says_what_is_off(
    project: Path,
) -> None:
    """No orders, no events: the subscription family carries the build, rfm is off, and
    lifecycle, which keeps days since signup, is listed as partly off."""
    raw = project / "raw_subscriptions"
    shutil.copytree(project / "raw" / "customers", raw / "customers")
    customers = pq.read_table(raw / "customers").select(["customer_id", "signup_date"])
    ids, signups = customers.column(0).to_pylist(), customers.column(1).to_pylist()
    rows = [
        f"S{i},{customer},{signup},{signup + dt.timedelta(days=200) if i % 3 == 0 else ''},"
        f"{10 + i % 4 * 5}"
        for i, (customer, signup) in enumerate(zip(ids, signups, strict=True))
    ]
    (raw / "subscriptions.csv").write_text(
        "subscription_id,customer_id,start_date,end_date,mrr\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    params_variant(
        project,
        "subscriptions.yaml",
        ("raw_dir: raw\n", "raw_dir: raw_subscriptions\n"),
        ("out/features", "out/subscription_features"),
    )
    with (project / "subscriptions.yaml").open("a", encoding="utf-8") as params:
        params.write("churn:\n  definition: subscription\n")

    exit_code, output = features(project, "subscriptions.yaml")

    assert exit_code == 0, output
    # Orders are the other business model's table: their absence is no warning; events' is.
    warned = [line for line in output.splitlines() if "[warning" in line]
    assert not [line for line in warned if "family=rfm" in line or "family=lifecycle" in line]
    assert [line for line in warned if "features left out" in line and "family=voice" in line]
    folder = project / "out" / "subscription_features"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "subscription_mrr_change_90d" in manifest["features"]
    assert manifest["families_off"]["rfm"] == "table(s) orders absent"
    assert manifest["families_off"]["lifecycle"] == "partly off: table(s) orders absent"
    assert "subscription" not in manifest["families_off"]
    training = pq.read_table(folder / "training.parquet")
    assert pc.min(training.column("subscription_running")).as_py() >= 1  # the population


def test_cutoffs_whose_windows_reach_before_the_data_are_named(project: Path) -> None:
    """The world starts on 2023-01-01; 20 monthly cutoffs reach back to 2023-04, so the
    365-day windows of the earliest ones start before any order was recorded."""
    params_variant(
        project,
        "long.yaml",
        ("count: 3", "count: 20"),
        ("out/features", "out/long_features"),
    )

    exit_code, output = features(project, "long.yaml")

    assert exit_code == 0, output
    assert "features left out" not in output  # a retailer has no subscriptions
    manifest = json.loads((project / "out" / "long_features" / "manifest.json").read_text())
    start = dt.date.fromisoformat(manifest["cut_short"]["data_start"])
    assert start >= dt.date(2023, 1, 1)
    cutoffs = [dt.date.fromisoformat(c) for c in manifest["cutoffs"]]
    expected = [c for c in cutoffs if c - dt.timedelta(days=365) < start]
    assert 0 < len(expected) < len(cutoffs)
    assert manifest["cut_short"]["cutoffs"] == [c.isoformat() for c in expected]
    assert manifest["cut_short"]["window_days"] == 365
    [line] = [line for line in output.splitlines() if "windows cut short by the data's" in line]
    assert f"full_windows_with_cutoffs_count={len(cutoffs) - len(expected)}" in line


def test_a_look_back_no_cutoff_can_fill_names_the_look_back_not_a_cutoff_count(
    project: Path,
) -> None:
    """With churn.lookback_days 700 the warning advised features.cutoffs.count 0, which params
    refuse."""
    params_variant(
        project,
        "long_lookback.yaml",
        ("features:\n", "churn: {lookback_days: 700}\nfeatures:\n"),
        ("out/features", "out/long_lookback"),
    )

    exit_code, output = features(project, "long_lookback.yaml")

    assert exit_code == 0, output
    [line] = [line for line in output.splitlines() if "windows cut short by the data's" in line]
    assert "full_windows_with_cutoffs_count" not in line
    assert "churn.lookback_days" in line


def test_a_snapshot_date_after_the_data_is_refused_not_labelled_as_churn(project: Path) -> None:
    """Set by hand past the export's end, the latest cutoffs' horizons would count days with no
    recorded orders as churn; the stage names the latest snapshot date that works instead."""
    assert features(project)[0] == 0
    manifest = json.loads((project / "out" / "features" / "manifest.json").read_text())
    end = dt.date.fromisoformat(manifest["snapshot_date"])  # derived: the data's end
    late, exact = end + dt.timedelta(days=45), end
    for name, day in (("late.yaml", late), ("exact.yaml", exact)):
        params_variant(project, name, ("features:\n", f"features:\n  snapshot_date: {day}\n"))

    late_code, late_output = features(project, "late.yaml")
    exact_code, _ = features(project, "exact.yaml")

    assert late_code == 1
    assert f"run past the data's end ({end}" in late_output
    assert f"features.snapshot_date may be at most {end}" in late_output
    assert exact_code == 0


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("  snapshot_date: '2000-01-01'\n", "is not after the data's start"),
        # ten years of history: no cutoff's look-back holds an order
        ("  snapshot_date: '2023-01-20'\n", "no customer is in the inactivity population"),
        (
            "  families: {rfm: false, lifecycle: false, support: false, engagement: false, "
            "voice: false, loyalty: false, events: false, offers: false, static: false, "
            "subscription: false}\n",
            "every feature family is switched off",
        ),
    ],
)
def test_a_build_with_nothing_to_learn_from_exits_1_and_keeps_the_old_output(
    project: Path, setting: str, expected: str
) -> None:
    """It used to write empty tables over good ones and leave train to fail."""
    assert features(project)[0] == 0
    folder = project / "out" / "features"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    params_variant(project, "empty.yaml", ("features:\n", f"features:\n{setting}"))

    exit_code, output = features(project, "empty.yaml")

    assert exit_code == 1, output
    assert expected in output
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_a_value_that_skipped_validation_exits_1_pointing_at_churn_validate(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """Both engines fail the cast (Spark because ANSI mode is forced on) and say so in one line."""
    if engine == "spark":
        request.getfixturevalue("spark_backend")  # the stage reuses the running test session
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "customers.csv").write_text("customer_id,signup_date\nA,2023-01-01\n")
    (raw / "orders.csv").write_text(
        "order_id,customer_id,order_ts,amount\n1,A,2024-06-15 10:00,5\n2,A,15/06/2024 10:00,5\n"
    )
    (tmp_path / "params.yaml").write_text(
        f"paths:\n  raw_dir: raw\n  features_dir: out/features\nfeatures:\n  engine: {engine}\n"
    )

    exit_code, output = features(tmp_path)

    assert exit_code == 1, output
    [error] = [line for line in output.splitlines() if "cannot read in its contract type" in line]
    assert "15/06/2024 10:00" in error
    assert "run `churn validate`" in error
    assert not (tmp_path / "out" / "features").exists()


def test_a_truncated_raw_file_exits_1_pointing_at_churn_validate(project: Path) -> None:
    raw = raw_variant(project, "truncated")
    part = sorted((raw / "orders").glob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])

    exit_code, output = features(project, "truncated.yaml")

    assert exit_code == 1, output
    [error] = [line for line in output.splitlines() if "the features engine cannot read" in line]
    assert "run `churn validate`" in error
    assert "Traceback" not in output
    assert not (project / "out" / "truncated").exists()


def test_a_memory_limit_too_small_exits_1_naming_the_settings_and_keeps_the_old_output(
    project: Path,
) -> None:
    """DuckDB's out-of-memory error was a traceback."""
    assert features(project)[0] == 0
    folder = project / "out" / "features"
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    params_variant(project, "tiny_memory.yaml", ("duckdb: {", "duckdb: {memory_limit: 1MB, "))

    exit_code, output = features(project, "tiny_memory.yaml")

    assert exit_code == 1, output
    [error] = [line for line in output.splitlines() if "ran out of memory" in line]
    assert "features.duckdb.memory_limit '1MB'" in error
    assert "features.partition_rows" in error
    assert "Traceback" not in output
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_full_spill_disk_is_named_as_such_not_blamed_on_the_raw_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB reports a full disk as an IO error, which read as "a raw file ... cannot read"."""
    import duckdb
    import typer

    from pipeline.features import _engine_errors_exit_1

    config = Config.load(project / "params.yaml")
    with pytest.raises(typer.Exit) as stopped, _engine_errors_exit_1(config):
        raise duckdb.IOException(
            'IO Error: Could not write file "tmp/duckdb/duckdb_temp_storage-0.tmp": '
            "No space left on device"
        )

    assert stopped.value.exit_code == 1
    error = capsys.readouterr().err
    assert "ran out of memory or spill space" in error and "run `churn validate`" not in error


def test_a_build_over_customer_slices_writes_the_same_bytes(project: Path) -> None:
    assert features(project)[0] == 0
    params_variant(
        project,
        "sliced.yaml",
        ("features_dir: out/features", "features_dir: out/sliced"),
        ("features:\n", "features:\n  partition_rows: 2000\n"),
    )

    sliced = Config.load(project / "sliced.yaml")
    tables = load_raw_tables(connect(sliced.features), sliced.paths.raw_dir)
    assert len(plan_slices(tables, sliced.features)) > 3

    assert features(project, "sliced.yaml")[0] == 0

    for name in ("training.parquet", "snapshot.parquet", "manifest.json"):
        whole = (project / "out" / "features" / name).read_bytes()
        assert (project / "out" / "sliced" / name).read_bytes() == whole, name
    assert not list((project / "out" / "sliced").glob(".*")), "temporary slice files left"


def test_the_snapshot_rows_equal_a_build_of_the_snapshot_alone(project: Path) -> None:
    """The stage builds the labelled cutoffs and the snapshot together; the snapshot file must be
    exactly what the snapshot's own unlabelled build writes."""
    assert features(project)[0] == 0
    config = Config.load(project / "params.yaml")
    tables = load_raw_tables(connect(config.features), config.paths.raw_dir)
    snapshot_date = dt.date(2025, 1, 1)
    alone = build_features(
        tables, [snapshot_date], config.features, config.churn, labelled=False
    ).order_by(list(ROW_ORDER))

    write_outputs([alone], ROW_ORDER[0], [Output(project / "alone.parquet")])

    written = project / "out" / "features" / "snapshot.parquet"
    assert written.read_bytes() == (project / "alone.parquet").read_bytes()


def test_one_event_dated_far_after_the_orders_end_is_refused_not_labelled_as_churn(
    project: Path,
) -> None:
    """It moved the derived snapshot to 2025-09-02: every cutoff after the orders' end got a
    churn rate of 1.0, and the stage exited 0."""
    raw = raw_variant(project, "future_event")
    customer = pq.read_table(next((raw / "customers").glob("*.parquet"))).column(0)[0].as_py()
    append_row(
        raw / "events", customer_id=customer, event_type="email_sent", ts=dt.datetime(2025, 9, 1, 8)
    )

    exit_code, output = features(project, "future_event.yaml")

    assert exit_code == 1, output
    [error] = [line for line in output.splitlines() if line.startswith("error:")]
    assert "the orders end on 2024-12-31, but the labels of the cutoffs up to" in error
    assert "the snapshot date 2025-09-02 is the day after the latest dated row" in error
    assert "(events to 2025-09-01)" in error and "features.snapshot_date" in error
    assert not (project / "out" / "future_event").exists()


def test_an_event_type_first_seen_after_the_last_cutoff_is_a_snapshot_column_only(
    project: Path,
) -> None:
    assert features(project)[0] == 0
    baseline = project / "out" / "features"
    raw = raw_variant(project, "new_type")
    customer = pq.read_table(baseline / "snapshot.parquet").column("customer_id")[0].as_py()
    append_row(
        raw / "events",
        customer_id=customer,
        event_type="chat_message",
        ts=dt.datetime(2024, 12, 20, 10),
    )

    exit_code, output = features(project, "new_type.yaml")

    assert exit_code == 0, output
    folder = project / "out" / "new_type"
    training = pq.read_table(folder / "training.parquet")
    snapshot = pq.read_table(folder / "snapshot.parquet")
    assert "events_count_30d_chat_message" in snapshot.column_names
    assert "events_count_30d_chat_message" not in training.column_names
    assert (folder / "training.parquet").read_bytes() == (
        baseline / "training.parquet"
    ).read_bytes()
    chat = snapshot.filter(pc.equal(snapshot.column("customer_id"), customer))
    assert chat.column("events_count_30d_chat_message").to_pylist() == [1]


def test_event_types_spelled_otherwise_are_named_not_silently_read_as_none(project: Path) -> None:
    """Families read event types by their exact names: an export that writes ``Email Open``
    builds, but the engagement, loyalty and voice features read as no event at all (and nobody
    is a loyalty member), so the stage says so."""
    raw = raw_variant(project, "renamed")
    for part in sorted((raw / "events").glob("*.parquet")):
        events = pq.read_table(part)
        spelled = pc.utf8_title(pc.replace_substring(events.column("event_type"), "_", " "))
        position = events.schema.get_field_index("event_type")
        pq.write_table(events.set_column(position, "event_type", spelled), part)

    exit_code, output = features(project, "renamed.yaml")

    assert exit_code == 0, output
    manifest = json.loads((project / "out" / "renamed" / "manifest.json").read_text())
    unseen = manifest["event_types_unseen"]
    assert unseen["loyalty"] == ["loyalty_earn", "loyalty_redeem", "referral"]
    assert unseen["voice"] == ["survey_nps"]
    assert "email_open" in unseen["engagement"]
    warned = [line for line in output.splitlines() if "event types a feature family" in line]
    assert len(warned) == 3 and all("warning" in line for line in warned)
    assert "events_count_30d_email_open" in manifest["features"]  # the export's own spelling


def test_the_events_family_off_does_not_make_the_other_families_types_unseen(
    project: Path,
) -> None:
    """With features.families.events false, engagement, loyalty and voice were warned about as
    reading types "absent from the events", which the table held (their features were fine)."""
    params_variant(
        project, "events_off.yaml", ("features:\n", "features:\n  families: {events: false}\n")
    )
    text = (project / "events_off.yaml").read_text()
    (project / "events_off.yaml").write_text(text.replace("out/features", "out/events_off"))

    exit_code, output = features(project, "events_off.yaml")

    assert exit_code == 0, output
    manifest = json.loads((project / "out" / "events_off" / "manifest.json").read_text())
    assert manifest["event_types_unseen"] == {}
    assert "event types a feature family" not in output
    assert "events_count_30d_email_open" not in manifest["features"]  # the family is off


def test_offers_sent_after_the_snapshot_date_are_warned_about(project: Path) -> None:
    """The snapshot date follows orders and events; a later send is invisible to its features,
    so the offers' cooldown would not count it."""
    raw = raw_variant(project, "late_offer")
    append_row(
        raw / "offers", group="treatment", sent_ts=dt.datetime(2025, 1, 3, 9), redeemed_ts=None
    )

    exit_code, output = features(project, "late_offer.yaml")

    assert exit_code == 0, output
    [line] = [line for line in output.splitlines() if "on or after the snapshot date" in line]
    assert "sends=1" in line and "snapshot_date=2025-01-01" in line
    assert "export orders and events up to the offers log's end" in line
    assert "on or after the snapshot date" not in features(project)[1]


def test_offers_after_an_explicit_snapshot_date_blame_the_setting_not_the_export(
    project: Path,
) -> None:
    """With features.snapshot_date set before the data's end, the hint asked to export orders
    and events further, which already ran to the end."""
    params_variant(
        project,
        "early.yaml",
        ("features:\n", "features:\n  snapshot_date: 2024-06-01\n"),
        ("out/features", "out/early"),
    )

    exit_code, output = features(project, "early.yaml")

    assert exit_code == 0, output
    [line] = [line for line in output.splitlines() if "on or after the snapshot date" in line]
    assert "features.snapshot_date is set before them" in line


def test_raw_files_other_than_the_validated_ones_are_warned_about(project: Path) -> None:
    """``dvc repro`` always validates first; run by hand, the stage says when the raw files
    are not the ones ``churn validate`` passed (none validated, or changed since)."""
    raw = raw_variant(project, "checked")
    params_variant(
        project,
        "checked.yaml",
        ("raw_dir: raw\n", "raw_dir: raw_checked\n  validation_report: out/checked.json\n"),
        ("features_dir: out/features", "features_dir: out/checked"),
    )
    not_validated = "the raw data has not been validated"
    changed = "the raw files are not the ones validated"

    assert not_validated in features(project, "checked.yaml")[1]
    validate = runner.invoke(app, ["validate", "--params", str(project / "checked.yaml")])
    assert validate.exit_code == 0, validate.output
    exit_code, output = features(project, "checked.yaml")
    assert exit_code == 0, output
    assert not_validated not in output and changed not in output
    append_row(raw / "orders", amount=-5.0)  # one the contract refuses

    exit_code, output = features(project, "checked.yaml")

    assert exit_code == 0, output
    [line] = [line for line in output.splitlines() if changed in line]
    assert "orders: orders/zz-appended.parquet is new" in line
    assert "run `churn validate`" in line


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"tables": [1]}'])
def test_a_validation_report_it_cannot_read_is_warned_about(tmp_path: Path, text: str) -> None:
    from pipeline.features import _warn_unless_validated

    raw = write_valid_raw(tmp_path / "raw")
    (tmp_path / "report.json").write_text(text, encoding="utf-8")
    paths = {"raw_dir": str(raw), "validation_report": "report.json"}
    config = Config.from_mapping({"paths": paths}, base_dir=tmp_path)

    with capture_logs() as logs:
        _warn_unless_validated(config)

    assert [log["event"] for log in logs] == ["the validation report cannot be read"]
    assert str(tmp_path / "report.json") in logs[0]["error"]


def test_a_raw_folder_it_cannot_list_is_not_blamed_on_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Running as root, a folder without read permission is still listed: the denial is faked
    where the comparison lists the files."""
    from crm import freshness
    from crm.validation import validate_raw_tables
    from pipeline.features import _warn_unless_validated

    raw = write_valid_raw(tmp_path / "raw")
    paths = {"raw_dir": str(raw), "validation_report": "report.json"}
    config = Config.from_mapping({"paths": paths}, base_dir=tmp_path)
    report = validate_raw_tables(raw, config.validate_)
    (tmp_path / "report.json").write_text(json.dumps(report), encoding="utf-8")

    def denied(*_: object) -> dict[str, int]:
        raise PermissionError(13, "Permission denied", str(raw / "orders.csv"))

    monkeypatch.setattr(freshness, "file_sizes", denied)
    with capture_logs() as logs:
        _warn_unless_validated(config)

    [log] = logs
    assert log["event"] == "the raw files cannot be compared with the validation report"
    assert "Permission denied" in log["error"] and log["raw_dir"] == str(raw)
