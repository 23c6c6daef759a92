"""Names one stage writes and later stages or the service read: the files in each stage's folder,
and the category a null text value becomes.

A writer and its readers live in different packages (the service may not import the pipeline), so
each name is spelt once, here: a name copied into every reader drifts, and a reader would then
look for a file nobody writes, or miss the value it means.
"""

from __future__ import annotations

TRAINING_FILE = "training.parquet"
"""``paths.features_dir``: one labelled row per (customer, cutoff)."""

SNAPSHOT_FILE = "snapshot.parquet"
"""``paths.features_dir``: the unlabelled scoring snapshot the explain and offers stages and the
service score."""

MANIFEST_FILE = "manifest.json"
"""``paths.features_dir``: snapshot date, cutoffs, feature-definition hash."""

REGISTERED_FILE = "registered.json"
"""``paths.models_dir``: the versions train registered, their columns and its split."""

SHAP_VALUES_FILE = "shap_values.parquet"
"""``paths.explain_dir``: SHAP values of the test-cutoff rows."""

REASONS_FILE = "snapshot_reasons.parquet"
"""``paths.explain_dir``: reason codes of every snapshot customer."""

TARGETS_FILE = "targets.parquet"
"""``paths.offers_dir``: the budgeted campaign's decision per snapshot customer."""

CRM_IMPORT_FILE = "crm_import.csv"
"""``paths.offers_dir``: the targets as the CRM imports them."""

POLICY_DIR = "policy"
"""``paths.offers_dir``: the fitted offer policy the service loads."""

MISSING_CATEGORY = "missing"
"""What a null category value reads once ``models.candidates`` fills it for a model; reason texts
and the service's fast path recognise it."""
