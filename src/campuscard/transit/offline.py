"""What a bus validator downloads to decide offline (TRN-2): a snapshot signed exactly like the gates'
(``access.offline``: the institution's Ed25519 keys of ``access.keys``, every key that is not retired
signs the canonical body, ``visitor_keys`` lists them so a validator follows a key rotation), with:

* its route's fare table and the operator's fare rules (classes, transfer window);
* ``holders``: every bound card's NFC UID → fare class;
* ``phones``: every bound phone's HCE credential token → fare class (#20 item 1). The phone presents its
  one-time code ``CC1.<token>.<digits>``; the validator cannot check the digits (it holds no secret), it
  admits the token and uploads the digits, and the upload checks them against the tap's time;
* ``deny_list``: a version and the NFC UIDs (``nfc_uids``) and phone tokens (``hce_tokens``) to refuse —
  lost/frozen/replaced/cancelled cards (the cards' list, CARD-4), bindings that ended or are suspended,
  phones unbound or whose credential was replaced, and bound wallets below zero (until recharged).

The version is the cards' ``DenyListVersion`` plus transit's own ``DenyVersion`` (both only grow), so it
changes whenever either list does. A validator refuses a snapshot with a lower ``serial`` than the one it
holds (a replayed download cannot bring a denied card back).
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from campuscard.access import keys
from campuscard.access.models import AccessSigningKey
from campuscard.access.offline import REFUSED_STATES, canonical
from campuscard.cards import codes
from campuscard.cards.models import Credential, DenyListVersion
from campuscard.core import clock
from campuscard.ledger.models import Balance
from campuscard.transit import fares
from campuscard.transit.models import Binding, DenyVersion, Validator

SNAPSHOT_VERSION = 1


def deny_version(institution_id: int) -> int:
    cards = DenyListVersion.objects.filter(institution_id=institution_id).values_list("version", flat=True).first()
    own = DenyVersion.objects.filter(institution_id=institution_id).values_list("version", flat=True).first()
    return (cards or 0) + (own or 0)


def deny_bump(institution_id: int) -> None:
    """Transit's list changed (a wallet went below zero, a binding ended): validators see a new version."""
    DenyVersion.objects.get_or_create(institution_id=institution_id)
    DenyVersion.objects.filter(institution_id=institution_id).update(version=F("version") + 1)


def _next_serial(institution_id: int) -> int:
    with transaction.atomic():
        DenyVersion.objects.get_or_create(institution_id=institution_id)
        DenyVersion.objects.filter(institution_id=institution_id).update(serial=F("serial") + 1)
        return DenyVersion.objects.values_list("serial", flat=True).get(institution_id=institution_id)


def denied_uids(institution_id: int) -> list[str]:
    refused_cards = (Credential.objects.filter(kind=Credential.Kind.NFC, card__institution_id=institution_id,
                                               card__state__in=REFUSED_STATES)
                     .exclude(uid="").values_list("uid", flat=True))
    not_riding = (Credential.objects.filter(kind=Credential.Kind.NFC, active=True, card__institution_id=institution_id,
                                            card__transit_bindings__state__in=[Binding.State.ENDED,
                                                                               Binding.State.SUSPENDED])
                  .exclude(card_id__in=Binding.objects.filter(state=Binding.State.ACTIVE, with_card=True)
                           .values("card_id")).exclude(uid="")
                  .values_list("uid", flat=True))
    below_zero = _below_zero_wallets(institution_id)
    negative = []
    if below_zero:
        negative = list(Credential.objects.filter(kind=Credential.Kind.NFC, active=True,
                                                  card__wallet_account_id__in=below_zero,
                                                  card__transit_bindings__state=Binding.State.ACTIVE)
                        .exclude(uid="").values_list("uid", flat=True))
    return sorted({*refused_cards, *not_riding, *negative})


def _below_zero_wallets(institution_id: int) -> set[int]:
    return set(Balance.objects.filter(
        stripe=0, account__institution_id=institution_id,
        credits_posted__lt=F("debits_posted") + F("debits_pending") + F("account__floor"))
        .values_list("account_id", flat=True))


def denied_tokens(institution_id: int) -> list[str]:
    """Phone (HCE) tokens to refuse: of a card that stopped, a credential that was replaced (inactive), a
    phone unbound or a binding not active, a wallet below zero — unless the same token is bound and riding."""
    bindings = Binding.objects.filter(institution_id=institution_id, phone__isnull=False)
    riding = bindings.filter(state=Binding.State.ACTIVE, phone_bound=True, phone__active=True).exclude(
        card__state__in=REFUSED_STATES)
    allowed = dict(riding.values_list("phone__token", "card__wallet_account_id"))
    stopped = set(bindings.filter(Q(card__state__in=REFUSED_STATES) | Q(phone__active=False)
                                  | ~Q(state=Binding.State.ACTIVE) | Q(phone_bound=False))
                  .values_list("phone__token", flat=True))
    replaced = set(Credential.objects.filter(kind=Credential.Kind.HCE, active=False,
                                             card__transit_bindings__institution_id=institution_id)
                   .values_list("token", flat=True))
    below = _below_zero_wallets(institution_id) if allowed else set()
    negative = {token for token, wallet in allowed.items() if wallet in below}
    return sorted(((stopped | replaced) - set(allowed)) | negative)


def bound_holders(institution_id: int) -> dict[str, str]:
    return {uid: fares.fare_class(kind) for uid, kind in Credential.objects.filter(
        kind=Credential.Kind.NFC, active=True, card__institution_id=institution_id,
        card__transit_bindings__state=Binding.State.ACTIVE, card__transit_bindings__with_card=True)
        .exclude(uid="").values_list("uid", "card__kind")}


def bound_phones(institution_id: int) -> dict[str, str]:
    return {token: fares.fare_class(kind) for token, kind in Binding.objects.filter(
        institution_id=institution_id, state=Binding.State.ACTIVE, phone_bound=True, phone__active=True)
        .values_list("phone__token", "card__kind")}


def snapshot_build(*, validator: Validator) -> dict[str, Any]:
    device, operator, route = validator.device, validator.operator, validator.route
    institution_id = device.institution_id
    serial = _next_serial(institution_id)  # before the reads: a higher serial never holds older facts
    version = deny_version(institution_id)  # before the list: a validator never holds a list older than its version
    now = clock.now()
    denied, denied_phones = denied_uids(institution_id), denied_tokens(institution_id)
    holders = {uid: klass for uid, klass in bound_holders(institution_id).items() if uid not in set(denied)}
    phones = {token: klass for token, klass in bound_phones(institution_id).items() if token not in set(denied_phones)}
    keys.active_key(institution_id)
    live = list(AccessSigningKey.objects.filter(institution_id=institution_id, retired_at=None).order_by("key_id"))
    signing = next(k for k in live if k.active)
    ttl = getattr(settings, "TRANSIT_SNAPSHOT_TTL_HOURS", 24)
    body: dict[str, Any] = {
        "v": SNAPSHOT_VERSION, "kind": "transit", "serial": serial, "institution": institution_id,
        "device": device.code, "generated_at": now.isoformat(),
        "expires_at": (now + dt.timedelta(hours=ttl)).isoformat(),
        "operator": {"code": operator.code, "name": operator.name,
                     "student_discount_percent": operator.student_discount_percent,
                     "staff_discount_percent": operator.staff_discount_percent,
                     "transfer_minutes": operator.transfer_minutes, "transfer_discount": operator.transfer_discount},
        "route": {"id": route.pk, "code": route.code, "name": route.name, "fare": route.fare,
                  "stage_fare": route.stage_fare, "max_stages": route.max_stages},
        "holders": holders, "phones": phones,
        "deny_list": {"version": version, "nfc_uids": denied, "hce_tokens": denied_phones},
        "visitor_keys": {str(k.key_id): k.public_key for k in live},
        "key_id": signing.key_id,
    }
    message = canonical(body)
    body["signatures"] = {str(k.key_id): base64.b64encode(keys.sign(k, message)).decode() for k in live}
    return body


def trusted_keys(institution_id: int) -> dict[str, str]:
    """The public keys a validator is provisioned with (key id → base64 raw Ed25519 key): the institution's
    keys that are not retired. After that it trusts each verified snapshot's ``visitor_keys``."""
    keys.active_key(institution_id)
    return {str(k): v for k, v in AccessSigningKey.objects.filter(institution_id=institution_id, retired_at=None)
            .order_by("key_id").values_list("key_id", "public_key")}


def snapshot_verify(snapshot: dict, public_keys: dict) -> bool:
    """The validator's check: a signature by a key it trusts verifies over the body without signatures,
    and none by a trusted key fails."""
    if not isinstance(snapshot, dict) or snapshot.get("v") != SNAPSHOT_VERSION or snapshot.get("kind") != "transit":
        return False
    trusted = {int(k): v for k, v in public_keys.items()}
    message = canonical({k: v for k, v in snapshot.items() if k != "signatures"})
    genuine = False
    for key_id, signature in (snapshot.get("signatures") or {}).items():
        text = trusted.get(int(key_id))
        if text is None:
            continue
        try:
            keys.public_key_from_b64(text).verify(base64.b64decode(signature), message)
        except Exception:  # noqa: BLE001 - a wrong signature by a trusted key: tampered
            return False
        genuine = True
    return genuine


def decide_offline(snapshot: dict, uid: str = "", *, hce: str = "", stages: int = 1) -> tuple[bool, str, int]:
    """What the validator does on a tap with no network: (ride?, fare class or refusal, fare). A card
    gives its NFC ``uid``; a phone its HCE token (``hce``, read from its one-time code)."""
    if hce:
        denied, bound, key = snapshot["deny_list"].get("hce_tokens", []), snapshot.get("phones", {}), hce.strip()
    else:
        denied, bound, key = snapshot["deny_list"]["nfc_uids"], snapshot["holders"], codes.normalize_uid(uid)
    if key in set(denied):
        return False, "denied", 0
    klass = bound.get(key)
    if klass is None:
        return False, "not_bound", 0
    op, r = snapshot["operator"], snapshot["route"]
    rules = fares.FareRules(op["student_discount_percent"], op["staff_discount_percent"], op["transfer_minutes"],
                            op["transfer_discount"])
    return True, klass, fares.fare(rules, fares.RouteFare(r["fare"], r["stage_fare"], r["max_stages"]), klass, stages)
