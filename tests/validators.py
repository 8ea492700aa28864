"""Helpers for tests that need a real validator: skip where it is missing, but never in CI."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(name: str) -> str:
    """Path of a command-line tool; CI installs every tool (make system-deps), so there it must exist."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed; `make system-deps` should have installed it")
        pytest.skip(f"{name} is not installed (run `make system-deps`)")
    return path
