"""Where a training run's code and data came from, as MLflow tags: the git commit, whether the
checkout had uncommitted changes, and the DVC hash of the features it read.

An ML engineer comparing runs in MLflow needs to get back to the exact code and data of each;
``dvc.lock`` and git hold them, so the tags point there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from core.config import Config

GIT_CHANGES = ["status", "--porcelain", "--untracked-files=no"]
"""Tracked files changed since the commit. ``dvc.lock`` is left out: ``dvc repro`` rewrites it
for the stages before train, so it would call every run from a clean checkout dirty."""


def provenance(config: Config) -> dict[str, str]:
    """Tags tying a training run to its code and data: git commit, DVC hash of the feature
    folder."""
    return {
        "git_commit": _git(["rev-parse", "HEAD"]),
        "git_dirty": _dirty(_git([*GIT_CHANGES, "--", ".", ":(exclude)dvc.lock"])),
        "features_dvc_md5": _dvc_out_hash(Path("dvc.lock"), config.paths.features_dir),
        "stage": "train",
    }


def _git(args: list[str]) -> str:
    """Output of a read-only git command, or ``unknown`` outside a git checkout."""
    try:
        result = subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()


def _dirty(status: str) -> str:
    return status if status == "unknown" else str(bool(status))


def _dvc_out_hash(lock_path: Path, out_path: Path) -> str:
    """The md5 ``dvc.lock`` records for ``out_path`` (the upstream stage's output), if any."""
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return "unknown"
    target = out_path.resolve()
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if (lock_path.parent / out.get("path", "")).resolve() == target:
                return str(out.get("md5", "unknown"))
    return "unknown"
