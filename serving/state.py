"""What is being served, swapped whole: model, by-id store and offer policy in one frozen object.

A request reads ``holder.current`` once and uses that object to the end, so a swap never mixes
two models inside one answer and in-flight requests finish on the model they started with (the
old object lives until its last request drops it). A reload builds the new object off the event
loop and replaces the reference only once everything has loaded and passed its checks; a failure
leaves the old object serving and is reported, never raised into the loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from core.logging import get_logger
from features.definitions import UnknownFeatureError, describe
from models import tracking
from models.candidates import is_boolean_objects
from serving import metrics
from serving.fastexplain import FastExplainer, compile_fast_explainer
from serving.fastpath import (
    TREES_MAX_ROWS,
    FastScorer,
    compile_fast_scorer,
    snapshot_rows,
    without_trees,
)
from serving.model import (
    ModelLoadError,
    ServedModel,
    known_categories,
    load_version,
    resolve_alias,
)
from serving.settings import ServiceSettings
from serving.store import SnapshotStore, StoreLoadError, build_store, fingerprint, snapshot_frame

if TYPE_CHECKING:
    from offers.policy import OfferPolicy

_log = get_logger(__name__)
PARITY_TOLERANCE = 1e-9
EXPLAIN_CHECK_ROWS = 1000
EXPLAIN_CHECK_CHUNK = 250


class PolicyError(RuntimeError):
    """The offer policy could not be loaded."""


LARGEST_NUMBER = float(np.finfo(np.float32).max)
"""The largest magnitude a feature value may have: XGBoost scores in float32, where anything
larger is infinite (and a JSON integer may be larger than any float)."""


@dataclass(frozen=True)
class Serving:
    """One consistent set of everything an answer is computed from."""

    model: ServedModel
    store: SnapshotStore
    policy: OfferPolicy
    required_features: tuple[str, ...]
    feature_kinds: dict[str, str]
    by_id_prefix: bytes
    top_reasons: int
    reason_min_log_odds: float
    risk_tiers: tuple[float, ...]
    known_categories: dict[str, frozenset[str]] = field(default_factory=dict)
    rule_values: dict[str, frozenset[str]] = field(default_factory=dict)
    """Per text column only the offer rules read (no model input): the snapshot's values."""
    fast: FastScorer | None = None
    fast_explain: FastExplainer | None = None

    @cached_property
    def required_set(self) -> frozenset[str]:
        return frozenset(self.required_features)

    @cached_property
    def numeric_features(self) -> tuple[str, ...]:
        return self._of_kind("number")

    @cached_property
    def numeric_ranges(self) -> tuple[tuple[str, float, float], ...]:
        """``(name, low, high)`` per numeric feature: its unit's range in the feature catalogue
        (a negative count or a share above 1 is a caller's bug, not a customer), within what
        XGBoost's float32 can hold."""
        largest = LARGEST_NUMBER
        ranges = []
        for name in self.numeric_features:
            try:
                low, high = describe(name).valid_range
            except UnknownFeatureError:  # not a catalogue feature: only the float32 bound
                low, high = None, None
            ranges.append(
                (name, -largest if low is None else low, largest if high is None else high)
            )
        return tuple(ranges)

    @cached_property
    def bool_features(self) -> tuple[str, ...]:
        return self._of_kind("bool")

    @cached_property
    def string_features(self) -> tuple[str, ...]:
        return self._of_kind("string")

    def _of_kind(self, kind: str) -> tuple[str, ...]:
        return tuple(name for name in self.required_features if self.feature_kinds[name] == kind)

    def provenance(self, decided_by: str | None) -> dict[str, Any]:
        return {
            "model": {
                "name": self.model.card.registered_model,
                "version": self.model.version,
                "alias": self.model.alias,
            },
            "decided_by_model_version": decided_by,
            "feature_definitions_hash": self.store.feature_definitions_hash,
            "snapshot_date": self.store.snapshot_date,
        }


@dataclass
class ReloadOutcome:
    changed: bool
    message: str
    error: str | None = None


@dataclass
class ServingHolder:
    """The reference to the current :class:`Serving` and the loop that keeps it fresh."""

    settings: ServiceSettings
    current: Serving | None = None
    last_error: str | None = None
    rejected_versions: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refresh(self, force: bool = False) -> ReloadOutcome:
        """Load what changed (alias moved, snapshot files changed) and swap; blocking.

        ``force`` retries a version that failed before (the admin endpoint does).
        """
        with self._lock:
            try:
                return self._refresh(force)
            except Exception as error:  # whatever fails, the previous state (if any) keeps serving
                # The same failure on every poll (an alias deleted for an hour) is logged once, at
                # error level, and again once it changes, after a success or when an admin asks
                # (their 409 points at the log); /ready and the reloads counter show each one.
                repeated = str(error) == self.last_error and not force
                log = _log.debug if repeated else _log.error
                self.last_error = str(error)
                what = "snapshot" if isinstance(error, StoreLoadError | PolicyError) else "model"
                metrics.RELOADS.labels(what, "rejected").inc()
                if self.current is None:
                    log("load failed; nothing serves until one succeeds", error=str(error))
                    return ReloadOutcome(False, "load failed", str(error))
                log("reload rejected; previous state keeps serving", error=str(error))
                return ReloadOutcome(False, "reload rejected", str(error))

    def _refresh(self, force: bool) -> ReloadOutcome:
        settings, current = self.settings, self.current
        alias_error: Exception | None = None
        try:
            # opening a missing SQLite store would create an empty one, without a champion
            tracking.require_store(settings.mlflow)
            version = resolve_alias(settings.registered_model, settings.alias)
        except (tracking.TrackingError, ModelLoadError) as error:
            if current is None:
                raise
            # The registry may be down, locked or without the alias for a while; new snapshot
            # files must still go live with the model already serving, as for a rejected version.
            alias_error, version = error, current.model.version
        stamp = fingerprint(settings)
        model_changed = current is None or current.model.version != version
        store_changed = current is None or current.store.fingerprint != stamp
        if not (model_changed or store_changed):
            if alias_error is not None:
                raise alias_error
            self.last_error = None  # what the registry and the files hold is what serves
            return ReloadOutcome(False, "nothing changed")
        if model_changed and version in self.rejected_versions and not force:
            if current is None or not store_changed:
                return ReloadOutcome(False, f"v{version} was rejected before; not retried")
            # A new snapshot or campaign still goes live, with the model already serving:
            # otherwise by-id would keep answering the old campaign's decisions indefinitely.
            model_changed = False
        store = build_store(settings) if store_changed or current is None else current.store
        policy = _load_policy(settings) if store_changed or current is None else current.policy
        if model_changed:
            try:
                model = load_version(
                    settings.registered_model, settings.alias, version, store.check_rows
                )
            except ModelLoadError:
                self.rejected_versions.add(version)
                raise
        else:
            model = current.model  # type: ignore[union-attr]
        serving = assemble(settings, model, store, policy)
        try:
            warm_up(serving, store.check_rows)
        except Exception as error:
            self.rejected_versions.add(version)
            raise ModelLoadError(
                f"v{model.version} cannot explain or price the snapshot rows: {error}"
            ) from None
        self.current = serving  # the swap: one reference assignment
        self.rejected_versions.discard(model.version)
        self.last_error = None if alias_error is None else str(alias_error)
        metrics.set_model_version(settings.registered_model, settings.alias, model.version)
        metrics.RELOADS.labels("model" if model_changed else "snapshot", "loaded").inc()
        message = f"serving v{model.version}, snapshot {store.snapshot_date}"
        _log.info("serving swapped", version=model.version, snapshot=store.snapshot_date)
        if alias_error is not None:
            _log.error("alias unreadable; the served model stays", error=str(alias_error))
            message += f" (alias unreadable, model kept: {alias_error})"
        return ReloadOutcome(True, message)

    async def run_forever(self) -> None:
        """Load at start, then poll every ``reload_poll_seconds`` until cancelled."""
        while True:
            await asyncio.to_thread(self.refresh)
            await asyncio.sleep(self.settings.reload_poll_seconds)


def warm_up(serving: Serving, rows: Any) -> None:
    """Answer two snapshot rows the raw-feature way before serving: builds the explainer (cached
    per model object) so the first caller does not pay for it, and rejects a model the explainer
    or the offer policy cannot handle."""
    from serving.scoring import score_frame

    sample = rows.head(2)
    score_frame(serving, sample[list(serving.required_features)], [None] * len(sample), True)


def assemble(
    settings: ServiceSettings, model: ServedModel, store: SnapshotStore, policy: OfferPolicy
) -> Serving:
    """A :class:`Serving` with its derived parts: which model the batch decision came from, the
    request feature list and types, and the by-id response prefix."""
    snapshot = snapshot_frame(settings)
    served = model.probabilities(snapshot)
    decided_by = _batch_model_version(model, served, store)
    required = list(model.columns.all)
    required += [name for name in policy.feature_names if name not in required]
    rules_only = [
        name for name in policy.rule_feature_names(snapshot.columns) if name not in required
    ]
    required += rules_only
    absent = [name for name in required if name not in snapshot.columns]
    if absent:
        raise StoreLoadError(
            f"{settings.snapshot_path}: lacks column(s) {absent} that model v{model.version} or "
            "the offer policy needs"
        )
    categorical = set(model.columns.categorical) | set(getattr(policy.columns, "categorical", ()))
    categorical |= {name for name in rules_only if _is_text(snapshot[name])}
    kinds = {name: _kind(snapshot[name], name in categorical) for name in required}
    serving = Serving(
        model=model,
        store=store,
        policy=policy,
        required_features=tuple(required),
        feature_kinds=kinds,
        by_id_prefix=b"",
        top_reasons=settings.top_reasons,
        reason_min_log_odds=settings.reason_min_log_odds,
        risk_tiers=settings.risk_tiers,
        known_categories=known_categories(model.model, model.columns),
        rule_values={
            name: frozenset(str(value) for value in snapshot[name].dropna().unique())
            for name in rules_only
            if name in categorical
        },
        fast=_checked_fast_scorer(model, snapshot, served),
    )
    header = json.dumps(serving.provenance(decided_by), separators=(",", ":"))
    prefix = (header[:-1] + ',"scores":[').encode()
    serving = replace(serving, by_id_prefix=prefix)
    return replace(serving, fast_explain=_checked_fast_explainer(serving, snapshot))


def _is_text(column: pd.Series) -> bool:
    """A rule-only column (no model says what it is) holding text: a country, not a number."""
    return not pd.api.types.is_numeric_dtype(column.dtype)  # bool and boolean count as numeric


def _kind(column: pd.Series, categorical: bool) -> str:
    """How a request value of this feature is checked: ``bool``, ``string`` or ``number``."""
    if str(column.dtype) in ("bool", "boolean") or is_boolean_objects(column):
        return "bool"
    if categorical:
        return "string"
    return "number"


def _checked_fast_scorer(model: ServedModel, snapshot: Any, served: np.ndarray) -> Any:
    """The pandas-free score-only path, only if it gives the very same probabilities as the
    pipeline's ``predict_churn`` on every snapshot row (else None: the standard path serves)."""
    fast = compile_fast_scorer(model.model, model.columns)
    if fast is None:
        return None
    rows = snapshot_rows(snapshot, model.columns.all)
    if not np.array_equal(without_trees(fast).probabilities(rows), served):
        _log.warning(
            "fast score-only path differs from predict_churn; not used", version=model.version
        )
        return None
    if fast.trees is None:
        return fast
    # the compiled tree walk serves requests of up to TREES_MAX_ROWS rows: checked in such chunks
    walked = np.concatenate(
        [
            fast.probabilities(rows[start : start + TREES_MAX_ROWS])
            for start in range(0, len(rows), TREES_MAX_ROWS)
        ]
    )
    if np.array_equal(walked, served):
        return fast
    _log.warning("compiled tree walk differs from XGBoost; not used", version=model.version)
    return without_trees(fast)


def _checked_fast_explainer(serving: Serving, snapshot: Any) -> FastExplainer | None:
    """The pandas-free explain path, only if its answers (probability, reasons, offer: every
    field) equal the reference ``score_frame`` path's on about :data:`EXPLAIN_CHECK_ROWS` snapshot
    rows spread over the snapshot (the reference costs milliseconds per row: the whole snapshot
    would hold a reload for half a minute; ``tests/serving/test_fastexplain.py`` compares every
    row of its worlds), in chunks of :data:`EXPLAIN_CHECK_CHUNK` (else None: the reference path
    serves)."""
    from serving.scoring import request_frame, score_frame

    model = serving.model
    fast = compile_fast_explainer(
        model.model,
        model.columns,
        serving.policy,
        serving.feature_kinds,
        serving.top_reasons,
        serving.reason_min_log_odds,
    )
    if fast is None:
        return None
    step = max(1, len(snapshot) // EXPLAIN_CHECK_ROWS)
    rows = snapshot_rows(snapshot.iloc[::step], serving.required_features)
    for start in range(0, len(rows), EXPLAIN_CHECK_CHUNK):
        chunk = rows[start : start + EXPLAIN_CHECK_CHUNK]
        ids: list[str | None] = [None] * len(chunk)
        expected = score_frame(serving, request_frame(serving, chunk), ids, True)
        if fast_answers(serving, fast, chunk, ids) != expected:
            _log.warning(
                "fast explain path differs from the reference path; not used",
                version=model.version,
                rows=f"{start}-{start + len(chunk)}",
            )
            return None
    return fast


def fast_answers(
    serving: Serving, fast: FastExplainer, rows: Any, customer_ids: Any
) -> list[dict[str, Any]]:
    """The fast explain path's answers in ``score_frame``'s shape."""
    from serving.scoring import explained_answers

    probabilities, reasons, offers = fast.answers(rows)
    return explained_answers(serving, customer_ids, probabilities, reasons, offers)


def _batch_model_version(
    model: ServedModel, served: np.ndarray, store: SnapshotStore
) -> str | None:
    """``model``'s version if its probabilities on the snapshot are the batch's, else None."""
    batch = store.batch_probabilities
    if served.shape == batch.shape and np.allclose(served, batch, rtol=0, atol=PARITY_TOLERANCE):
        return model.version
    _log.warning(
        "the batch decision was made by another model than the served one",
        served_version=model.version,
        rows=(len(served), len(batch)),
    )
    return None


def _load_policy(settings: ServiceSettings) -> OfferPolicy:
    from offers.policy import PolicyLoadError, load_policy

    try:
        return load_policy(settings.policy_dir)
    except PolicyLoadError as error:
        raise PolicyError(str(error)) from None
