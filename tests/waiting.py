"""Waiting for an event in a test: poll, and fail the test when it is late."""

from __future__ import annotations

import time

import pytest


def wait_for(condition, what: str, seconds: float = 30):
    """Poll ``condition`` until it returns something true, and return that;
    fail the test, naming ``what``, when ``seconds`` pass first."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:g} s waiting for {what}", pytrace=False)
        time.sleep(0.02)
