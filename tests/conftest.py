"""Shared fixtures: a toy topic registered next to the real ones."""

from __future__ import annotations

import pytest

from symderiv import topics


@pytest.fixture
def toy_registered(monkeypatch):
    """Register tests/toy_topic.py as topic 'toy' for the duration of a test."""
    monkeypatch.setitem(topics.TOPIC_MODULES, "toy", "toy_topic")
    topics._derive_cached.cache_clear()
    yield "toy"
    topics._derive_cached.cache_clear()
