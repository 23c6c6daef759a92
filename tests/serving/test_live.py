"""End to end: ``churn serve`` as a real uvicorn process on 127.0.0.1, driven over HTTP.

Covers the lifespan load, the CRM's calls, replay parity with the batch pipeline over the whole
scoring snapshot, a schemathesis run against the live OpenAPI schema, and a champion swap under
load.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import requests

from core.config import Config
from tests.serving.conftest import (
    ADMIN_KEY,
    API_KEY,
    OTHER_KEY,
    auth,
    champion_version,
    register_copy,
    set_champion,
)
from tests.serving.test_app import feature_payload

pytestmark = pytest.mark.slow

SCHEMATHESIS_CASES = 520


@dataclass
class Server:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def server(world: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``churn serve`` on a free port with the world's params; stopped at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env |= {"CHURN_API_KEYS": f"{API_KEY},{OTHER_KEY}", "CHURN_ADMIN_KEY": ADMIN_KEY}
    churn = Path(sys.executable).parent / "churn"
    params = world.paths.features_dir.parents[1] / "params.yaml"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(churn), "-v", "serve", "--params", str(params), "--port", str(port)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log)
        yield Server(url, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"churn serve exited {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"churn serve not ready after 120 s:\n{log.read_text()}")


def batch_outputs(world: Config) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    snapshot = pd.read_parquet(world.paths.features_dir / "snapshot.parquet")
    targets = pd.read_parquet(world.paths.offers_dir / "targets.parquet").set_index("customer_id")
    reasons = pd.read_parquet(world.paths.explain_dir / "snapshot_reasons.parquet")
    return snapshot, targets, reasons.set_index("customer_id")


def post(server: Server, path: str, body: Any, key: str = API_KEY) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, headers=auth(key), timeout=60)


def test_the_crm_call_by_id_and_health_probes(server: Server, world: Config) -> None:
    snapshot, targets, _ = batch_outputs(world)
    customer = snapshot["customer_id"].iloc[0]

    response = post(server, "/v1/score/by-id", {"customer_ids": [customer]})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    score = response.json()["scores"][0]
    assert score["churn_probability"] == targets.loc[customer, "churn_probability"]
    assert httpx.get(f"{server.url}/health").json() == {"status": "alive"}
    assert "churn_http_requests_total" in httpx.get(f"{server.url}/metrics").text


def test_replay_of_the_whole_snapshot_equals_the_batch_pipeline(
    server: Server, world: Config
) -> None:
    """Every snapshot customer through the API, by id and as raw features, equals the batch."""
    from offers.policy import load_policy

    snapshot, targets, reasons = batch_outputs(world)
    ids = snapshot["customer_id"].tolist()
    features = httpx.get(f"{server.url}/v1/model", headers=auth()).json()["features"]
    customers = feature_payload(snapshot, features)
    limit = world.serve.max_batch_size

    by_id, raw, score_only = [], [], []
    for start in range(0, len(ids), limit):
        chunk = slice(start, start + limit)
        by_id += post(server, "/v1/score/by-id", {"customer_ids": ids[chunk]}).json()["scores"]
        raw += post(server, "/v1/score", {"customers": customers[chunk]}).json()["scores"]
        score_only += post(
            server, "/v1/score", {"customers": customers[chunk], "explain": False}
        ).json()["scores"]

    batch_probability = targets.loc[ids, "churn_probability"].tolist()
    batch_reasons = [json.loads(reasons.loc[c, "reasons"]) for c in ids]
    assert [s["customer_id"] for s in by_id] == [s["customer_id"] for s in raw] == ids
    # probabilities: by id, raw with reasons and score only all equal the batch's, to the bit
    assert [s["churn_probability"] for s in by_id] == batch_probability
    assert [s["churn_probability"] for s in raw] == batch_probability
    assert [s["churn_probability"] for s in score_only] == batch_probability
    assert reasons.loc[ids, "churn_probability"].tolist() == batch_probability
    # reasons: the explain stage's, by id and recomputed from raw features
    assert [s["reasons"] for s in by_id] == batch_reasons
    assert [s["reasons"] for s in raw] == batch_reasons
    # offers: by id the campaign's decision; raw the batch policy's unbudgeted best offer
    for score, customer in zip(by_id, ids, strict=True):
        row = targets.loc[customer]
        assert score["offer"]["offer_id"] == row["offer_id"]
        assert score["offer"]["group"] == row["group"]
        assert score["offer"]["expected_gain"] == row["expected_gain"]
    policy = load_policy(world.paths.offers_dir / "policy")
    best = policy.recommend(snapshot, targets.loc[ids, "churn_probability"].to_numpy())
    assert [s["offer"]["offer_id"] for s in raw] == [
        o if isinstance(o, str) else None for o in best["offer_id"]
    ]
    assert [s["offer"]["expected_gain"] for s in raw] == best["expected_gain"].tolist()
    assert [s["offer"]["decision"] for s in raw] == best["reason"].tolist()


def test_schemathesis_finds_no_server_error_in_the_live_schema(server: Server) -> None:
    """Generated requests (valid and invalid) against every operation: never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    cases = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    session = requests.Session()

    @settings(
        max_examples=SCHEMATHESIS_CASES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def exercise(case: Any) -> None:
        key = ADMIN_KEY if case.path.startswith("/v1/admin") else API_KEY
        response = case.call(base_url=server.url, session=session, headers=auth(key), timeout=30)
        statuses[response.status_code] += 1
        if response.status_code >= 500 or "Traceback" in response.text:
            failures.append(f"{case.method} {case.path}: {response.status_code} {response.text}")

    exercise()

    assert not failures, failures[:5]
    assert sum(statuses.values()) >= 500
    assert statuses[200] > 0 and statuses[422] > 0, statuses


def test_a_champion_swap_under_load_fails_no_request(server: Server, world: Config) -> None:
    snapshot, _, _ = batch_outputs(world)
    ids = snapshot["customer_id"].head(50).tolist()
    features = httpx.get(f"{server.url}/v1/model", headers=auth()).json()["features"]
    customers = feature_payload(snapshot.head(5), features)
    bodies = [
        ("/v1/score/by-id", {"customer_ids": ids}),
        ("/v1/score", {"customers": customers}),
        ("/v1/score", {"customers": customers, "explain": False}),
    ]
    outcomes: Counter[tuple[int, str]] = Counter()
    stop = threading.Event()

    def hammer(worker: int) -> None:
        with httpx.Client(base_url=server.url, headers=auth(), timeout=30) as client:
            turn = worker
            while not stop.is_set():
                path, body = bodies[turn % len(bodies)]
                turn += 1
                try:
                    response = client.post(path, json=body)
                    version = response.json()["model"]["version"] if response.is_success else "-"
                    outcomes[(response.status_code, version)] += 1
                except httpx.HTTPError as error:
                    outcomes[(0, type(error).__name__)] += 1

    good = champion_version(world)
    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        copy = register_copy(world, good)
        set_champion(world, copy)  # picked up by the 0.5 s poll
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(v == copy for _, v in outcomes):
            time.sleep(0.1)
        time.sleep(1.0)
        set_champion(world, good)  # and back, through the admin endpoint this time
        reload = post(server, "/v1/admin/reload", None, key=ADMIN_KEY)
        time.sleep(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        set_champion(world, good)

    assert reload.status_code == 200 and reload.json()["version"] == good
    statuses = {status for status, _ in outcomes}
    assert statuses == {200}, outcomes
    versions = {version for _, version in outcomes}
    assert versions == {good, copy}, outcomes
    assert sum(outcomes.values()) > 50


def test_the_server_log_never_holds_a_key(server: Server) -> None:
    post(server, "/v1/score/by-id", {"customer_ids": ["X"]}, key="leaked-wrong-key")
    post(server, "/v1/admin/reload", None, key=API_KEY)
    time.sleep(0.2)
    text = server.log.read_text(errors="replace")

    assert "serving swapped" in text  # the log is being written (-v)
    for key in (API_KEY, OTHER_KEY, ADMIN_KEY, "leaked-wrong-key"):
        assert key not in text
