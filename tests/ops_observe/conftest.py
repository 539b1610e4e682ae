"""The canteen and its POS terminal (tests/payments) and the gated campus (tests/access), for #18 item 8."""

from tests.access.conftest import _forget_access_caches, gate, place  # noqa: F401
from tests.payments.conftest import canteen, funded, kiosk, staff, terminal  # noqa: F401
