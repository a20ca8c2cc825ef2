"""Shared fixtures: the reference original, private store directories."""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _reference_path():
    for cand in (
        os.environ.get("SCOUT_AUDIT_REFERENCE"),
        str(REPO.parent / "shared" / "reference" / "audit.py"),
        "/work/shared/reference/audit.py",
    ):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def original():
    """The Python original (the reference), imported from its file."""
    path = _reference_path()
    if path is None:
        pytest.fail("the reference original audit.py was not found: set SCOUT_AUDIT_REFERENCE")
    spec = importlib.util.spec_from_file_location("scout_reference_audit", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["scout_reference_audit"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def store(tmp_path):
    """A private directory's live-file path."""
    d = tmp_path / "store"
    d.mkdir(mode=0o700)
    return d / "audit.jsonl"
