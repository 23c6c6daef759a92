"""The FastAPI application: routes, lifespan (load, then keep fresh) and the middleware stack.

``create_app(config)`` builds an app for one process; ``app_from_environment`` is the factory
uvicorn's workers call (``churn serve`` passes the config in the environment).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import math
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypeVar

import pandas as pd
from fastapi import APIRouter, FastAPI, Path, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, create_model

from core.config import Config
from models import tracking
from serving import errors, metrics
from serving.auth import api_key_header, load_keys
from serving.guard import Guard
from serving.schemas import (
    CUSTOMER_ID_PATTERN,
    ByIdRequest,
    CustomerFeatures,
    Health,
    ModelInfo,
    Readiness,
    ReloadResult,
    ScoreRequest,
    ScoreResponse,
    error_responses,
)
from serving.scoring import (
    add_category_warnings,
    check_request,
    request_frame,
    score_frame,
    score_rows_explained,
    score_rows_fast,
)
from serving.settings import ServiceSettings, config_from_environment
from serving.state import Serving, ServingHolder

Batch = TypeVar("Batch", bound=BaseModel)

API_TITLE = "Churn scoring service"
API_DESCRIPTION = (
    "Churn risk, reason codes and the recommended loyalty offer for the CRM. Every `/v1` route "
    "needs the `X-API-Key` header. By id: the batch pipeline's decision for the latest scoring "
    "snapshot (precomputed). Raw features: computed on demand with the same model, reason codes "
    "and offer policy; `explain=false` for score only."
)
DOCS_ASSETS = "/docs-assets"
_UNKNOWN_SHOWN = 100
"""Unknown ids a 404 names (message and details); the count covers them all."""


def create_app(config: Config) -> FastAPI:
    """An app serving ``config``: keys are read now (no key configured -> refuse to start)."""
    settings = ServiceSettings.from_config(config)
    tracking.connect(config.mlflow)
    holder = ServingHolder(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(holder.run_forever(), name="reload-loop")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            app.state.compute.shutdown(wait=False, cancel_futures=True)

    # /docs and /redoc load Swagger UI and ReDoc from files in the fastapi-offline wheel, served
    # under DOCS_ASSETS: FastAPI's own pages load them from a CDN and stay blank offline.
    app = FastAPIOffline(
        title=API_TITLE,
        description=API_DESCRIPTION,
        version="1",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    app.state.settings = settings
    app.state.holder = holder
    # one scoring thread per worker: model compute is serialised (no GIL contention between
    # requests) while the event loop keeps accepting, routing and answering by-id requests
    app.state.compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="score")
    app.state.api_keys = load_keys(settings.api_key_env, settings.api_key_file, "API")
    app.state.admin_keys = _optional_admin_keys(settings)
    errors.install(app)
    app.include_router(_probes())
    app.include_router(_v1(settings))
    app.add_middleware(Guard, max_bytes=settings.max_request_bytes)
    app.add_middleware(metrics.RequestMetrics)
    app.openapi = _openapi_with_a_typical_example(app)  # type: ignore[method-assign]
    return app


def _openapi_with_a_typical_example(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """FastAPI's schema, with the raw-feature example replaced by typical values for exactly the
    served model's features once one serves: /docs' "Try it out" then sends a request that
    scores, where the static example (a few names and "...") can only get a 422. Typical, not a
    customer's: the schema is served without a key, and the first snapshot customer's whole
    record was in it."""
    static = app.openapi

    def openapi() -> dict[str, Any]:
        schema = static()
        serving = app.state.holder.current
        if serving is None:
            return schema
        schema = copy.deepcopy(schema)
        features = schema["components"]["schemas"]["CustomerFeatures"]["properties"]["features"]
        features["examples"] = [_typical_features(serving)]
        return schema

    return openapi


def _typical_features(serving: Serving) -> dict[str, Any]:
    """Per served feature, the middle of the snapshot's check rows: the median of a number, the
    most common text or yes/no value; None where every row lacks it."""
    rows = serving.store.check_rows
    example: dict[str, Any] = {}
    for name in serving.required_features:
        column = rows[name]
        if serving.feature_kinds[name] == "number":
            median = column.median()
            example[name] = None if pd.isna(median) else float(median)
        else:
            counts = column.dropna().value_counts()
            example[name] = None if counts.empty else _plain(counts.index[0])
    return example


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value JSON writes."""
    return value.item() if hasattr(value, "item") else value


def app_from_environment() -> FastAPI:
    """uvicorn factory for worker processes (``churn serve``)."""
    return create_app(config_from_environment())


def _optional_admin_keys(settings: ServiceSettings) -> Any:
    """The admin ring, or None (every admin call then answers 403) when no admin key is set."""
    from serving.auth import KeyConfigError

    try:
        return load_keys(settings.admin_key_env, settings.admin_key_file, "admin")
    except KeyConfigError:
        return None


def _serving(request: Request) -> Serving:
    holder: ServingHolder = request.app.state.holder
    serving = holder.current
    if serving is None:
        raise errors.ApiError(503, "no model loaded yet; see /ready", headers=_retry_after(holder))
    return serving


def _retry_after(holder: ServingHolder) -> dict[str, str]:
    """When a caller may try again: the next load attempt is at most one poll away."""
    return {"Retry-After": str(max(1, math.ceil(holder.settings.reload_poll_seconds)))}


def _batch_limited(model: type[Batch], field: str, limit: int) -> type[Batch]:
    """``model`` whose batch field holds at most ``limit`` entries. Pydantic then stops at the
    first entry past the limit, and the validation handler answers 413 from the raw body; the
    route's own check came after every entry was validated (235,000 entries held a worker's
    event loop for 2 s, probes included, before the 413)."""
    info = model.model_fields[field]
    limited: Any = Annotated[info.annotation, Field(max_length=limit)]
    return create_model(
        model.__name__, __base__=model, __module__=model.__module__, **{field: (limited, info)}
    )


COMPUTE_TURN_ROWS = 100
"""Rows one request computes per turn of the scoring thread. A batch takes its turns one after
another, so a request arriving meanwhile waits for one turn of each batch in flight, not for
whole batches: a one-row request behind two 1,000-row explained batches waited 4.4 s."""


def _turns(customers: list[CustomerFeatures]) -> Iterator[list[CustomerFeatures]]:
    for start in range(0, len(customers), COMPUTE_TURN_ROWS):
        yield customers[start : start + COMPUTE_TURN_ROWS]


def _body(model: type[BaseModel]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a route's ``body`` parameter as ``model`` (made per app, so it cannot be named
    in the route's annotations)."""

    def declare(route: Callable[..., Any]) -> Callable[..., Any]:
        route.__annotations__["body"] = model
        return route

    return declare


def _probes() -> APIRouter:
    router = APIRouter(tags=["probes"])

    # HEAD too: load balancers and uptime checks often probe with it. It is routed apart and left
    # out of the schema: one route for both methods gives both operations the same operationId,
    # which OpenAPI forbids and client generators trip over.
    @router.head("/health", include_in_schema=False)
    @router.get("/health", response_model=Health, summary="The process is alive")
    async def health() -> dict[str, str]:
        return {"status": "alive"}

    @router.head("/ready", include_in_schema=False)
    @router.get(
        "/ready",
        response_model=Readiness,
        summary="Model, snapshot store and offer policy are loaded",
        responses={503: {"model": Readiness, "description": "not loaded yet"}},
    )
    async def ready(request: Request) -> JSONResponse:
        holder: ServingHolder = request.app.state.holder
        serving = holder.current
        if serving is None:
            detail = "loading" if holder.last_error is None else "last load failed; see the log"
            return JSONResponse(
                {"ready": False, "version": None, "detail": detail}, 503, _retry_after(holder)
            )
        # Still serving; say so when the last reload failed (a newer version or snapshot is
        # not live), so a probe or an operator can tell a stale service from a current one.
        stale = (
            None if holder.last_error is None else "serving; the last reload failed, see the log"
        )
        return JSONResponse({"ready": True, "version": serving.model.version, "detail": stale})

    @router.head("/metrics", include_in_schema=False)
    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
    )
    async def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    return router


def _v1(settings: ServiceSettings) -> APIRouter:
    router = APIRouter(
        prefix="/v1",
        tags=["scoring"],
        dependencies=[Security(api_key_header)],
        responses=error_responses(400, 401, 403),
    )

    @router.post(
        "/score",
        response_model=ScoreResponse,
        summary="Score customers from raw feature values",
        responses=error_responses(413, 415, 422, 503),
    )
    @_body(_batch_limited(ScoreRequest, "customers", settings.max_batch_size))
    async def score(body: ScoreRequest, request: Request) -> ScoreResponse | JSONResponse:
        serving = _serving(request)  # read once: the whole answer comes from this model
        check_request(serving, body.customers)
        loop, compute = asyncio.get_running_loop(), request.app.state.compute
        if not body.explain and serving.fast is not None:
            # about a millisecond per row: inline beats a thread hop, which waits for the GIL
            # (up to the 5 ms switch interval) while the loop keeps it busy
            answers = score_rows_fast(serving, body.customers)
        elif body.explain and serving.fast_explain is not None:
            # the checked pandas-free path, in the scoring thread: XGBoost's SHAP call releases
            # the GIL, so the loop parses the next requests meanwhile (measured: 1.6 x the
            # requests/s of inline at concurrency 16, the same at concurrency 1)
            answers = []
            for rows in _turns(body.customers):
                answers += await loop.run_in_executor(compute, score_rows_explained, serving, rows)
        else:
            answers = []
            for rows in _turns(body.customers):
                frame = request_frame(serving, [customer.features for customer in rows])
                customer_ids = [customer.customer_id for customer in rows]
                answers += await loop.run_in_executor(
                    compute, score_frame, serving, frame, customer_ids, body.explain
                )
        add_category_warnings(serving, answers, body.customers)
        metrics.observe_scores("features", (a["churn_probability"] for a in answers))
        return JSONResponse({**serving.provenance(serving.model.version), "scores": answers})

    @router.post(
        "/score/by-id",
        response_model=ScoreResponse,
        summary="Score customers of the latest snapshot by id (precomputed batch decision)",
        responses=error_responses(404, 413, 415, 422, 503),
    )
    @_body(_batch_limited(ByIdRequest, "customer_ids", settings.max_batch_size))
    async def score_by_id(body: ByIdRequest, request: Request) -> Response:
        return _by_id(_serving(request), body.customer_ids)

    # HEAD beside GET, out of the schema (see _probes): monitors probe a route with it
    @router.head("/customers/{customer_id}/score", include_in_schema=False)
    @router.get(
        "/customers/{customer_id}/score",
        response_model=ScoreResponse,
        summary="Score one customer of the latest snapshot by id",
        responses=error_responses(404, 422, 503),
    )
    async def score_customer(
        request: Request,
        customer_id: str = Path(pattern=CUSTOMER_ID_PATTERN, examples=["C0000006"]),
    ) -> Response:
        # a HEAD probe is no score served: it stays out of the score histogram
        return _by_id(
            _serving(request), [customer_id], from_path=True, observe=request.method != "HEAD"
        )

    @router.head("/model", include_in_schema=False)
    @router.get(
        "/model",
        response_model=ModelInfo,
        summary="The served model: version, training date, test metrics, inputs",
        responses=error_responses(503),
    )
    async def model_info(request: Request) -> dict[str, Any]:
        serving = _serving(request)
        card = serving.model.card
        return {
            "name": card.registered_model,
            "version": card.version,
            "alias": serving.model.alias,
            "run_id": card.run_id,
            "candidate": card.candidate,
            "trained_at": card.trained_at,
            "test_metrics": card.test_metrics,
            "features": list(serving.required_features),
            "feature_definitions_hash": serving.store.feature_definitions_hash,
            "snapshot_date": serving.store.snapshot_date,
            "snapshot_customers": serving.store.snapshot_rows,
            "offers": list(serving.policy.catalog),
        }

    @router.post(
        "/admin/reload",
        response_model=ReloadResult,
        tags=["admin"],
        summary="Check the alias and snapshot now; load and swap what changed (admin key)",
        responses=error_responses(409, 503),
    )
    async def reload(request: Request) -> dict[str, Any]:
        holder: ServingHolder = request.app.state.holder
        outcome = await asyncio.to_thread(holder.refresh, True)
        if outcome.error is not None:
            kept = (
                "nothing serves until a load succeeds"
                if holder.current is None
                else "the previous one keeps serving"
            )
            raise errors.ApiError(
                409,
                f"{outcome.message}: the new state failed to load or to pass its checks; "
                f"{kept} (details in the service log)",
            )
        serving = _serving(request)
        return {
            "changed": outcome.changed,
            "version": serving.model.version,
            "snapshot_date": serving.store.snapshot_date,
            "message": outcome.message,
        }

    return router


def _by_id(
    serving: Serving, customer_ids: list[str], *, from_path: bool = False, observe: bool = True
) -> Response:
    """The snapshot answers for ``customer_ids``; 404 naming each unknown id where the request
    put it: ``customer_ids[i]`` in a batch, the path's ``customer_id`` (``from_path``)."""
    found, unknown = serving.store.lookup(customer_ids)
    if unknown:
        distinct = list(dict.fromkeys(unknown))
        shown = distinct[:_UNKNOWN_SHOWN]
        missing = set(distinct)
        positions = [index for index, c in enumerate(customer_ids) if c in missing]
        raise errors.ApiError(
            404,
            f"{len(distinct)} customer id(s) not in the scoring snapshot of "
            f"{serving.store.snapshot_date}: {', '.join(shown)}"
            + (" ..." if len(distinct) > len(shown) else ""),
            [
                {
                    "field": "customer_id" if from_path else f"customer_ids[{index}]",
                    "customer_index": None if from_path else index,
                    "message": f"{customer_ids[index]} is not in the scoring snapshot",
                }
                for index in positions[:_UNKNOWN_SHOWN]
            ],
        )
    if observe:
        probabilities = serving.store.probabilities
        metrics.observe_scores("snapshot", (probabilities[c] for c in customer_ids))
    body = serving.by_id_prefix + b",".join(found) + b"]}"
    return Response(body, media_type="application/json")
