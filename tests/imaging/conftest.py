"""Shared fixtures for the imaging tests: the test DICOM corpus (``../shared/dicom``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path | None:
    """The corpus folder: $SAMPARK_DICOM_CORPUS, else ``<repo>/../shared/dicom``."""
    env = os.environ.get("SAMPARK_DICOM_CORPUS")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "dicom")
    for path in candidates:
        if path.is_dir() and any(path.glob("*.dcm")):
            return path
    return None


@pytest.fixture(scope="session")
def corpus() -> Path:
    """Path of the DICOM corpus; skips the test when it is not available."""
    path = corpus_dir()
    if path is None:
        pytest.skip("DICOM corpus not found (set SAMPARK_DICOM_CORPUS)")
    return path
