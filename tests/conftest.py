"""Shared fixtures: paths to the real benchmark data and small synthetic corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("REASONIR_DATA", ROOT.parent / "shared" / "data")).resolve()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"benchmark data not found at {path} (set REASONIR_DATA)")
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return _need(DATA)


@pytest.fixture(scope="session")
def scifact_dir() -> Path:
    return _need(DATA / "scifact")


@pytest.fixture(scope="session")
def bright_dir() -> Path:
    return _need(DATA / "bright")
