"""Statement fragments over the device registry's tables, for apps that compose one statement of their own
(house rule 12: an app's SQL names only its own tables)."""

from __future__ import annotations

TYPES = {"device_id": "bigint"}

def device_live(device_id: str) -> str:
    """The SQL form of the one revocation rule (``devices.services.device_is_revoked``) over an SQL
    expression (a parameter, or a column of the caller's rows): true while the device is not revoked."""
    return f"EXISTS (SELECT 1 FROM devices_device WHERE id = {device_id} AND revoked_at IS NULL)"


def device_revoked(device_id: str) -> str:
    """True when the device ``device_id`` is revoked or gone."""
    return f"NOT {device_live(device_id)}"


DEVICE_LIVE = device_live("%(device_id)s")


def gate_nonces_claim(rows: str) -> str:
    """Claim the (device_id, nonce, seen_at) rows that the query ``rows`` gives, in the record
    ``devices.services.gate_nonce_claim`` keeps; RETURNING the device_id and nonce of each first claim."""
    return f"""INSERT INTO devices_requestnonce (device_id, nonce, seen_at) {rows}
    ON CONFLICT (device_id, nonce) DO NOTHING
    RETURNING device_id, nonce"""
