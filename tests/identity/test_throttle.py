"""The one throttle (identity.throttle): named buckets on the project clock."""

from __future__ import annotations

import datetime as dt

from campuscard.core import clock
from campuscard.identity import throttle

NOW = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)


def at(seconds: float):
    return clock.frozen_at(NOW + dt.timedelta(seconds=seconds))


def test_a_bucket_counts_within_its_window_and_opens_again():
    with at(0):
        assert throttle.bucket_wait("b", "k", limit=2, window=60) == 0
        assert throttle.bucket_hit("b", "k", window=60) == 1
    with at(10):
        assert throttle.bucket_hit("b", "k", window=60) == 2
        assert throttle.bucket_wait("b", "k", limit=2, window=60) == 50
        assert throttle.bucket_wait("b", "other", limit=2, window=60) == 0  # per key
        assert throttle.bucket_wait("c", "k", limit=2, window=60) == 0  # per name
    with at(59.5):
        assert throttle.bucket_wait("b", "k", limit=2, window=60) == 1
    with at(60):
        assert throttle.bucket_wait("b", "k", limit=2, window=60) == 0
        assert throttle.bucket_count("b", "k", window=60) == 0
        assert throttle.bucket_hit("b", "k", window=60) == 1  # a new window


def test_hold_locks_a_whole_window_from_the_hit_that_reached_the_limit():
    with at(0):
        throttle.bucket_hit("g", "ip", window=100, limit=3, hold=True)
    with at(90):
        throttle.bucket_hit("g", "ip", window=100, limit=3, hold=True)
        assert throttle.bucket_hit("g", "ip", window=100, limit=3, hold=True) == 3
        assert throttle.bucket_wait("g", "ip", limit=3, window=100) == 100
    with at(150):  # without hold the window would have ended at 100
        assert throttle.bucket_wait("g", "ip", limit=3, window=100) == 40
    with at(190):
        assert throttle.bucket_wait("g", "ip", limit=3, window=100) == 0


def test_clear_forgets_the_bucket():
    with at(0):
        throttle.bucket_hit("b", "K", window=60)
        assert throttle.bucket_count("b", "k", window=60) == 1  # keys are case-insensitive
        throttle.bucket_clear("b", "k")
        assert throttle.bucket_count("b", "k", window=60) == 0
