from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.config import ValidateConfig
from crm.validation import RawDataError, validate_raw_tables
from tests.crm.raw_fixtures import (
    CUSTOMERS_CSV,
    ORDERS_CSV,
    TICKETS_CSV,
    orders_frame,
    write_csv,
    write_orders,
    write_valid_raw,
)

CONFIG = ValidateConfig()


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    return write_valid_raw(tmp_path / "raw")


def failure_lines(raw_dir: Path, config: ValidateConfig = CONFIG) -> list[str]:
    with pytest.raises(RawDataError) as caught:
        validate_raw_tables(raw_dir, config)
    return [str(failure) for failure in caught.value.failures]


def test_valid_data_passes_with_counts_ranges_and_null_rates(raw_dir: Path) -> None:
    report = validate_raw_tables(raw_dir, CONFIG)

    customers = report["tables"]["customers"]
    assert customers["n_rows"] == 3
    assert customers["files"] == ["customers.csv"]
    assert customers["columns"]["signup_date"] == {
        "type": "date",
        "null_rate": 0.0,
        "min": "2023-01-01",
        "max": "2023-03-31",
    }
    assert customers["extra_columns"] == {"country": {"stored_as": "string", "null_rate": 0.333333}}
    orders = report["tables"]["orders"]
    assert orders["n_rows"] == 4
    assert orders["columns"]["order_ts"]["min"] == "2023-01-05 10:00:00"
    assert orders["columns"]["order_ts"]["max"] == "2023-04-02 23:59:59"
    tickets = report["tables"]["support_tickets"]["columns"]
    assert tickets["first_response_ts"]["null_rate"] == 0.5
    assert tickets["csat"] == {"type": "integer", "null_rate": 0.5}
    assert report["absent_tables"] == ["events", "subscriptions", "offers"]
    assert json.loads(json.dumps(report)) == report


def test_a_one_row_table_is_described_over_its_one_row(raw_dir: Path) -> None:
    header, _, row = TICKETS_CSV.splitlines()
    write_csv(raw_dir, "support_tickets", f"{header},priority\n{row},\n")

    tickets = validate_raw_tables(raw_dir, CONFIG)["tables"]["support_tickets"]

    assert tickets["n_rows"] == 1
    assert tickets["columns"]["csat"] == {"type": "integer", "null_rate": 1.0}
    assert tickets["columns"]["channel"] == {"type": "string", "null_rate": 0.0}
    assert tickets["extra_columns"]["priority"]["null_rate"] == 1.0


@pytest.mark.parametrize(
    ("form", "files"),
    [
        ("csv", ["orders.csv"]),
        ("parquet", ["orders.parquet"]),
        ("parts", ["orders/part-00000.parquet", "orders/part-00001.parquet"]),
    ],
)
def test_every_table_form_reads_the_same(raw_dir: Path, form: str, files: list[str]) -> None:
    write_orders(raw_dir, form)

    orders = validate_raw_tables(raw_dir, CONFIG)["tables"]["orders"]

    assert orders["files"] == files
    assert orders["n_rows"] == 4
    assert orders["columns"]["order_ts"]["min"] == "2023-01-05 10:00:00"
    assert orders["columns"]["order_ts"]["max"] == "2023-04-02 23:59:59"
    assert orders["columns"]["amount"] == {"type": "float", "null_rate": 0.0}


def test_only_required_tables_is_fine(raw_dir: Path) -> None:
    (raw_dir / "support_tickets.csv").unlink()

    report = validate_raw_tables(raw_dir, CONFIG)

    assert sorted(report["tables"]) == ["customers", "orders"]
    assert report["absent_tables"] == ["events", "support_tickets", "subscriptions", "offers"]


def test_missing_column(raw_dir: Path) -> None:
    write_orders(raw_dir, "csv", orders_frame().drop(columns="amount"))

    with pytest.raises(RawDataError) as caught:
        validate_raw_tables(raw_dir, CONFIG)

    (failure,) = caught.value.failures
    assert str(failure) == (
        "orders.amount: required column missing "
        "(found columns: order_id, customer_id, order_ts, status)"
    )
    assert (failure.table, failure.column, failure.n_failed, failure.n_rows) == (
        "orders",
        "amount",
        4,
        4,
    )


def test_a_column_missing_from_one_part_file_names_that_file(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts")
    lacking = raw_dir / "orders" / "part-00001.parquet"
    orders_frame().iloc[2:].drop(columns="amount").to_parquet(lacking, index=False)

    assert failure_lines(raw_dir) == [
        "orders.amount: column missing from 1 of 2 part files (part-00001.parquet)"
    ]


def test_contract_columns_spelt_in_other_case_or_blanks_are_named_not_ignored(
    raw_dir: Path,
) -> None:
    """``Status`` passed as an extra column: every cancelled and returned order then counted as
    completed, and validate exited 0."""
    write_orders(raw_dir, "csv", orders_frame().rename(columns={"status": "Status"}))

    with pytest.raises(RawDataError) as caught:
        validate_raw_tables(raw_dir, CONFIG)

    (failure,) = caught.value.failures
    assert str(failure) == (
        "orders.status: column name(s) differ from the contract only in case or blanks: "
        "'Status' for 'status'; rename them (as they stand they would be read as extra columns "
        "and the contract ones as absent)"
    )


def test_an_extra_csv_column_that_is_not_utf8_is_a_failure_not_a_later_crash(
    raw_dir: Path,
) -> None:
    """Validate passed a Windows-1252 `Österreich` (stored as binary); `churn features` then
    stopped on "CSV Error on Line: 4" and sent the user back to validate."""
    rows = "".join(f"C{i},2023-01-01,DE\n" for i in range(4, 5000))  # past any header sniff
    text = (raw_dir / "customers.csv").read_text(encoding="utf-8") + rows + "C9999,2023-01-01,Ö\n"
    (raw_dir / "customers.csv").write_bytes(text.encode("cp1252"))

    assert failure_lines(raw_dir) == [
        "customers.country: column 'country' (beyond the contract) holds text that is not "
        "UTF-8; save the file as UTF-8 (the features engine cannot read the file otherwise)"
    ]


def test_a_csv_date_with_a_utc_offset_is_refused_not_moved_to_the_day_before(
    raw_dir: Path,
) -> None:
    """``2023-01-01T00:00:00+01:00`` passed as 2022-12-31 (its UTC day): every tenure one day
    longer. A zoned Parquet timestamp in a date column was already refused."""
    text = (raw_dir / "customers.csv").read_text(encoding="utf-8")
    (raw_dir / "customers.csv").write_text(
        text.replace("C1,2023-01-01,", "C1,2023-01-01T00:00:00+01:00,"), encoding="utf-8"
    )

    [line] = failure_lines(raw_dir)

    assert line.startswith(
        'customers.signup_date: 1 of 3 rows fail "readable as an ISO 8601 date (YYYY-MM-DD; a '
        'time is dropped, a UTC offset refused)"'
    )
    assert "2023-01-01T00:00:00+01:00" in line


def test_header_columns_without_a_name_are_said_so(raw_dir: Path) -> None:
    """Two trailing commas read "repeats header column(s) " with a blank name."""
    text = (raw_dir / "orders.csv").read_text(encoding="utf-8")
    lines = [line + ",," for line in text.splitlines()]
    (raw_dir / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    [line] = failure_lines(raw_dir)

    assert line.endswith(
        "orders.csv has 2 header column(s) without a name (a spreadsheet's trailing commas, or a "
        "row index written with the data?); remove or name them"
    )


def test_wrong_type_text_in_a_number_column(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", ORDERS_CSV.replace(",0,returned", ",abc,returned"))

    assert failure_lines(raw_dir) == [
        'orders.amount: 1 of 4 rows fail "readable as a number"; '
        "examples (row: values): 1: {order_id: 'O2', amount: 'abc'}"
    ]


def test_wrong_physical_type_fails_the_whole_column(raw_dir: Path) -> None:
    write_orders(raw_dir, "parquet", orders_frame().assign(amount=[True, False, True, True]))
    path = raw_dir / "orders.parquet"

    assert failure_lines(raw_dir, ValidateConfig(max_examples=2)) == [
        f"orders.amount: 4 of 4 rows stored as bool in {path}; expected a number; "
        "examples (row: values): 0: {order_id: 'O1', amount: True}, "
        "1: {order_id: 'O2', amount: False}"
    ]


def test_a_part_in_the_wrong_physical_type_is_named_with_its_own_rows(raw_dir: Path) -> None:
    """The examples and the count are the failing part's, not the table's first rows."""
    frame = orders_frame()
    write_orders(raw_dir, "parts", frame)
    wrong = raw_dir / "orders" / "part-00001.parquet"
    frame.iloc[2:].assign(amount=[True, False]).to_parquet(wrong, index=False)

    assert failure_lines(raw_dir) == [
        f"orders.amount: 2 of 4 rows stored as bool in {wrong}; expected a number; "
        "examples (row: values): part-00001.parquet:0: {order_id: 'O3', amount: True}, "
        "part-00001.parquet:1: {order_id: 'O4', amount: False}"
    ]


def test_duplicate_id(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", ORDERS_CSV.replace("O3,", "O2,"))

    assert failure_lines(raw_dir) == [
        'orders.order_id: 2 of 4 rows fail "unique (no duplicates)"; '
        "examples (row: values): 1: {order_id: 'O2'}, 2: {order_id: 'O2'}"
    ]


def test_orphan_order(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", ORDERS_CSV.replace("O4,C3", "O4,C9"))

    assert failure_lines(raw_dir) == [
        "orders.customer_id: 1 of 4 rows reference a customer_id missing from customers; "
        "examples (row: values): 3: {order_id: 'O4', customer_id: 'C9'}"
    ]


def test_a_ticket_of_a_customer_who_never_ordered_references_customers_not_orders(
    raw_dir: Path,
) -> None:
    """Foreign keys are checked against the customers table, whichever tables come between."""
    write_csv(raw_dir, "customers", CUSTOMERS_CSV + "C4,2023-02-01,DE\n")
    write_csv(raw_dir, "support_tickets", TICKETS_CSV.replace("T2,C2,", "T2,C4,"))

    report = validate_raw_tables(raw_dir, CONFIG)

    assert report["tables"]["support_tickets"]["n_rows"] == 2


def test_orders_before_signup_pass_with_a_note_naming_them(raw_dir: Path) -> None:
    """A guest checkout before the account existed is real data, not a contract breach; but such
    buyers miss the cutoffs before their signup, so the report says so."""
    assert validate_raw_tables(raw_dir, CONFIG)["notes"] == []  # C3 ordered after signing up
    write_csv(raw_dir, "orders", ORDERS_CSV.replace("O4,C3,2023-04-02", "O4,C3,2023-03-30"))

    report = validate_raw_tables(raw_dir, CONFIG)

    [note] = report["notes"]
    assert note["check"] == "order_before_signup"
    assert (note["n_rows"], note["n_customers"]) == (1, 1)
    assert note["detail"].startswith("1 of 4 orders (1 customer) are dated before their")
    assert note["examples"] == [
        "3: {order_id: 'O4', customer_id: 'C3', order_ts: '2023-03-30 23:59:59', "
        "signup_date: '2023-03-31'}"
    ]
    assert json.loads(json.dumps(report)) == report


def test_an_order_on_the_signup_day_is_not_before_it(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", ORDERS_CSV.replace("O4,C3,2023-04-02", "O4,C3,2023-03-31"))

    assert validate_raw_tables(raw_dir, CONFIG)["notes"] == []


def test_negative_amount(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", ORDERS_CSV.replace(",10.5,", ",-10.5,"))

    assert failure_lines(raw_dir) == [
        'orders.amount: 1 of 4 rows fail "non-negative (>= 0)"; '
        "examples (row: values): 0: {order_id: 'O1', amount: -10.5}"
    ]


def test_an_infinite_amount_is_named_not_taken_as_a_big_order(raw_dir: Path) -> None:
    """``inf`` reads as a float and passes ``>= 0``; the contract wants amounts finite."""
    write_csv(raw_dir, "orders", ORDERS_CSV.replace(",99.9,", ",inf,"))

    assert failure_lines(raw_dir) == [
        'orders.amount: 1 of 4 rows fail "a finite number"; '
        "examples (row: values): 2: {order_id: 'O3', amount: inf}"
    ]


def test_unparsable_timestamps(raw_dir: Path) -> None:
    broken = ORDERS_CSV.replace("2023-02-01 12:30:00", "2023-02-30 12:30:00").replace(
        "2023-04-02 23:59:59", "02/04/2023"
    )
    write_csv(raw_dir, "orders", broken)

    assert failure_lines(raw_dir) == [
        "orders.order_ts: 2 of 4 rows fail "
        '"readable as an ISO 8601 timestamp (YYYY-MM-DD[ HH:MM[:SS]], UTC)"; '
        "examples (row: values): 1: {order_id: 'O2', order_ts: '2023-02-30 12:30:00'}, "
        "3: {order_id: 'O4', order_ts: '02/04/2023'}"
    ]


def test_empty_file(raw_dir: Path) -> None:
    path = write_csv(raw_dir, "support_tickets", "")

    assert failure_lines(raw_dir) == [
        f"support_tickets: table file {path} is empty (expected a header with columns "
        "ticket_id, customer_id, opened_ts, first_response_ts, resolved_ts, channel, csat)"
    ]


@pytest.mark.parametrize("mark", [";", "\t"])
def test_a_csv_separated_by_another_mark_is_named_once(raw_dir: Path, mark: str) -> None:
    """Not one "required column missing" per column: the file says what it is."""
    path = write_csv(raw_dir, "orders", ORDERS_CSV.replace(",", mark))

    [line] = failure_lines(raw_dir)

    assert line.startswith(f"orders: {path} has one header column ")
    assert repr(f"order_id{mark}customer_id")[:-1] in line  # the header as read, quoted
    assert line.endswith(
        f"it looks separated by {mark!r}; the contract's CSV files are comma-separated"
    )


def test_header_only_table(raw_dir: Path) -> None:
    write_csv(raw_dir, "support_tickets", "ticket_id,customer_id,opened_ts\n")

    assert failure_lines(raw_dir) == [
        "support_tickets: table has no rows; "
        "if you have no support_tickets data, remove it (the table is optional)"
    ]


def test_missing_required_table(raw_dir: Path) -> None:
    (raw_dir / "customers.csv").unlink()

    assert failure_lines(raw_dir) == [
        f"customers: required table missing: expected {raw_dir}/customers.parquet, "
        f"{raw_dir}/customers.csv or {raw_dir}/customers/*.parquet"
    ]


def test_missing_history_names_the_unrecognised_file(raw_dir: Path) -> None:
    (raw_dir / "orders.csv").rename(raw_dir / "order.csv")

    assert failure_lines(raw_dir) == [
        "orders or subscriptions: at least one is required (churn needs a purchase history): "
        f"expected {raw_dir}/orders.parquet, {raw_dir}/orders.csv or {raw_dir}/orders/*.parquet "
        f"or {raw_dir}/subscriptions.parquet, {raw_dir}/subscriptions.csv or "
        f"{raw_dir}/subscriptions/*.parquet (found unrecognised entries: order.csv)"
    ]


def test_a_raw_folder_that_does_not_exist_is_said_so(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-raw"

    lines = failure_lines(missing)

    assert lines[0] == (
        f"customers: required table missing: expected {missing}/customers.parquet, "
        f"{missing}/customers.csv or {missing}/customers/*.parquet "
        f"(the folder {missing} does not exist)"
    )
    assert len(lines) == 2 and lines[1].endswith(f"(the folder {missing} does not exist)")


def test_ambiguous_table_forms(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts")
    write_csv(raw_dir, "orders", ORDERS_CSV)

    assert failure_lines(raw_dir) == [
        f"orders: ambiguous: the table is present in more than one form "
        f"({raw_dir}/orders.csv, {raw_dir}/orders/); keep one"
    ]


def test_corrupt_parquet_names_the_file(raw_dir: Path) -> None:
    path = raw_dir / "events.parquet"
    path.write_bytes(b"this is not parquet")

    (line,) = failure_lines(raw_dir)

    assert line.startswith(f"events: cannot read {path}: ")


def test_failures_of_every_table_are_collected(raw_dir: Path) -> None:
    write_csv(raw_dir, "orders", ORDERS_CSV.replace(",10.5,", ",-10.5,"))
    write_csv(
        raw_dir,
        "support_tickets",
        """\
        ticket_id,customer_id,opened_ts,first_response_ts,resolved_ts,channel,csat
        T1,C1,2023-01-10 09:00:00,2023-01-10 08:00:00,2023-01-11 09:00:00,email,7
        T2,C2,2023-03-02 09:00:00,,,phone,
        """,
    )

    assert failure_lines(raw_dir) == [
        'orders.amount: 1 of 4 rows fail "non-negative (>= 0)"; '
        "examples (row: values): 0: {order_id: 'O1', amount: -10.5}",
        'support_tickets.csat: 1 of 2 rows fail "between 1 and 5"; '
        "examples (row: values): 0: {ticket_id: 'T1', csat: 7}",
        'support_tickets.first_response_ts: 1 of 2 rows fail "not before opened_ts"; '
        "examples (row: values): 0: {ticket_id: 'T1', "
        "first_response_ts: '2023-01-10 08:00:00', opened_ts: '2023-01-10 09:00:00'}",
    ]


def test_failing_rows_in_part_files_are_named_by_file(raw_dir: Path) -> None:
    write_orders(raw_dir, "parts", orders_frame().assign(amount=[10.5, 0.0, -1.0, 5.0]))

    assert failure_lines(raw_dir) == [
        'orders.amount: 1 of 4 rows fail "non-negative (>= 0)"; '
        "examples (row: values): part-00001.parquet:0: {order_id: 'O3', amount: -1.0}"
    ]


def test_out_of_range_dates_and_nulls(raw_dir: Path) -> None:
    write_csv(
        raw_dir,
        "subscriptions",
        """\
        subscription_id,customer_id,start_date,end_date,mrr
        S1,C1,2023-01-01,9999-12-31,9.9
        S2,C2,,,9.9
        """,
    )

    assert failure_lines(raw_dir) == [
        'subscriptions.start_date: 1 of 2 rows fail "not empty"; '
        "examples (row: values): 1: {subscription_id: 'S2', start_date: None}",
        'subscriptions.end_date: 1 of 2 rows fail "between 1990-01-01 and 2100-01-01"; '
        "examples (row: values): 0: {subscription_id: 'S1', end_date: '9999-12-31'}",
    ]


def test_offer_rules(raw_dir: Path) -> None:
    write_csv(
        raw_dir,
        "offers",
        """\
        customer_id,campaign_id,offer_id,sent_ts,group,redeemed_ts
        C1,K1,,2023-05-01,control,2023-05-03
        C2,K1,discount_10,2023-05-01,treatment,2023-04-30
        C3,K1,discount_10,2023-05-01,Treatment,
        """,
    )

    assert failure_lines(raw_dir) == [
        'offers.group: 1 of 3 rows fail "one of treatment, control"; '
        "examples (row: values): 2: {customer_id: 'C3', campaign_id: 'K1', group: 'Treatment'}",
        'offers.redeemed_ts: 1 of 3 rows fail "not before sent_ts"; '
        "examples (row: values): 1: {customer_id: 'C2', campaign_id: 'K1', "
        "redeemed_ts: '2023-04-30 00:00:00', sent_ts: '2023-05-01 00:00:00'}",
        'offers.redeemed_ts: 1 of 3 rows fail "empty when group is control"; '
        "examples (row: values): 0: {customer_id: 'C1', campaign_id: 'K1', "
        "redeemed_ts: '2023-05-03 00:00:00', group: 'control'}",
    ]


def test_unparsable_values_are_not_also_reported_as_empty(raw_dir: Path) -> None:
    write_csv(
        raw_dir,
        "orders",
        ORDERS_CSV.replace(",0,returned", ",,returned").replace(",5,cancelled", ",five,cancelled"),
    )

    assert failure_lines(raw_dir) == [
        'orders.amount: 1 of 4 rows fail "readable as a number"; '
        "examples (row: values): 3: {order_id: 'O4', amount: 'five'}",
        'orders.amount: 1 of 4 rows fail "not empty"; '
        "examples (row: values): 1: {order_id: 'O2', amount: None}",
    ]


def test_integer_ids_in_parquet_match_text_ids(raw_dir: Path) -> None:
    write_csv(raw_dir, "customers", "customer_id,signup_date\n1,2023-01-01\n2,2023-01-02\n")
    frame = orders_frame().assign(customer_id=[1, 1, 2, 2])
    write_orders(raw_dir, "parquet", frame)
    (raw_dir / "support_tickets.csv").unlink()

    report = validate_raw_tables(raw_dir, CONFIG)

    assert report["tables"]["orders"]["columns"]["customer_id"] == {"type": "id", "null_rate": 0.0}


def test_error_text_lists_every_failure(raw_dir: Path) -> None:
    (raw_dir / "customers.csv").unlink()
    write_csv(raw_dir, "orders", ORDERS_CSV.replace(",10.5,", ",-10.5,"))

    with pytest.raises(RawDataError) as caught:
        validate_raw_tables(raw_dir, CONFIG)

    text = str(caught.value)
    assert text.startswith("raw data breaks the data contract (2 problem(s))")
    for failure in caught.value.failures:
        assert f"\n  {failure}\n" in text


def test_timezone_aware_parquet_timestamps_are_checked_in_utc(raw_dir: Path) -> None:
    stamps = pd.to_datetime(orders_frame()["order_ts"]).dt.tz_localize("Europe/Berlin")
    write_orders(raw_dir, "parquet", orders_frame().assign(order_ts=stamps))

    orders = validate_raw_tables(raw_dir, CONFIG)["tables"]["orders"]

    assert orders["columns"]["order_ts"]["min"] == "2023-01-05 09:00:00"
    assert orders["columns"]["order_ts"]["max"] == "2023-04-02 21:59:59"


def test_a_parquet_file_with_a_repeated_column_is_refused(raw_dir: Path) -> None:
    frame = orders_frame()
    table = pa.Table.from_arrays(
        [*pa.Table.from_pandas(frame, preserve_index=False).columns, pa.array([-3.0] * 4)],
        names=[*frame.columns, "amount"],
    )
    (raw_dir / "orders.csv").unlink()
    pq.write_table(table, raw_dir / "orders.parquet")

    assert any("orders.parquet repeats column(s) amount" in line for line in failure_lines(raw_dir))


def test_zoned_timestamps_in_a_date_column_are_refused(raw_dir: Path) -> None:
    (raw_dir / "customers.csv").unlink()
    midnight_in_berlin = pd.to_datetime(["2023-01-01", "2023-02-15", "2023-03-31"])
    pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "signup_date": midnight_in_berlin.tz_localize("Europe/Berlin"),
        }
    ).to_parquet(raw_dir / "customers.parquet")

    (line,) = failure_lines(raw_dir)

    assert line.startswith("customers.signup_date: 3 of 3 rows stored as timestamp[")
    assert "tz=Europe/Berlin], a time in a zone rather than a calendar day" in line
    assert "expected an ISO 8601 date" in line


def test_an_attribute_missing_from_earlier_parts_is_described_over_all_rows(
    raw_dir: Path,
) -> None:
    (raw_dir / "customers.csv").unlink()
    parts = raw_dir / "customers"
    parts.mkdir()
    signup = pd.to_datetime(["2023-01-01", "2023-02-15"])
    pd.DataFrame({"customer_id": ["C1", "C2"], "signup_date": signup}).to_parquet(
        parts / "part-00000.parquet"
    )
    pd.DataFrame({"customer_id": ["C3"], "signup_date": signup[:1], "country": ["FR"]}).to_parquet(
        parts / "part-00001.parquet"
    )

    report = validate_raw_tables(raw_dir, CONFIG)

    (country,) = report["tables"]["customers"]["extra_columns"].values()
    assert country["null_rate"] == 0.666667


def test_the_date_range_holds_its_first_and_last_day_whole(raw_dir: Path) -> None:
    config = ValidateConfig(earliest_date=dt.date(2023, 1, 5), latest_date=dt.date(2023, 4, 2))
    write_csv(  # first order at 10:00 on earliest_date, last at 23:59:59 on latest_date: inside
        raw_dir,
        "customers",
        "customer_id,signup_date\nC1,2023-01-05\nC2,2023-02-15\nC3,2023-03-31\n",
    )
    (raw_dir / "support_tickets.csv").unlink()

    validate_raw_tables(raw_dir, config)
    late = ORDERS_CSV.replace("2023-04-02 23:59:59", "2023-04-03 00:00:00")
    write_csv(raw_dir, "orders", late)

    (line,) = failure_lines(raw_dir, config)
    assert line.startswith('orders.order_ts: 1 of 4 rows fail "between 2023-01-05 and 2023-04-02"')


def test_a_subscription_may_end_on_the_day_it_starts(raw_dir: Path) -> None:
    write_csv(
        raw_dir,
        "subscriptions",
        "subscription_id,customer_id,start_date,end_date,mrr\nS1,C1,2023-01-01,2023-01-01,9.9\n",
    )

    validate_raw_tables(raw_dir, CONFIG)
    write_csv(
        raw_dir,
        "subscriptions",
        "subscription_id,customer_id,start_date,end_date,mrr\nS1,C1,2023-01-02,2023-01-01,9.9\n",
    )
    assert len(failure_lines(raw_dir)) == 1
