"""Bench-only settings: CampusCard's settings plus django-hordak (the `bench` extra), so the ledger
benchmark can run the same workload through hordak on the same database. Never used by the app."""

from campuscard.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "mptt", "hordak"]  # noqa: F405
DEFAULT_CURRENCY = "CNY"
CURRENCIES = ["CNY"]
HORDAK_CURRENCIES = ["CNY"]
