"""The one-statement fast path decides every payment exactly like the ordinary path (house rule 11).

One case matrix — a pairwise covering set over every factor the rulebook reads, every single-factor
edge from a case that pays, and a seeded random sample — runs through ``pos.payment_authorize`` twice:
in world A with the fast path switched off, in world B (an identical twin: same holders, cards, money,
limits, terminals) with it on. Each case must end with the same outcome code and message parameters,
the same receipt, the same money moved and the same rows written.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import zoneinfo
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.test import override_settings

from campuscard.cards import codes
from campuscard.cards.models import Card, Credential, OfflineCode, UsedCode
from campuscard.cards.services import card_issue, nfc_bind
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.devices.models import Device
from campuscard.devices.services import device_register, device_revoke
from campuscard.identity.models import Person
from campuscard.ledger import services as ledger
from campuscard.ledger.checks import ledger_check
from campuscard.ledger.models import Account
from campuscard.ledger.selectors import account_balances
from campuscard.payments import fastpath, pos
from campuscard.payments.models import DailyUsage, Payment, Terminal
from campuscard.payments.services import recharge_cash

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres, pytest.mark.slow]

FACTORS: dict[str, list] = {  # the first value of each factor: a payment that goes through
    "credential": ["qr", "hce", "nfc", "offline", "numeric"],  # numeric: the QR's digits typed at the till
    "state": ["active", "applied", "lost", "frozen", "replaced", "cancelled"],
    "kind": ["student", "staff", "temporary", "visitor", "alumni"],
    "amount": ["free-1", "free", "free+1"],
    "room": ["plenty", "amount", "amount-1"],  # what is left of today's limit
    "balance": ["amount", "amount-1"],
    "wallet": ["open", "closed"],
    "device": ["live", "revoked"],
    "credential_active": [True, False],
    "institution": ["same", "other"],
    "password": ["right", "none", "wrong", "locked", "expired", "unset"],
    "code": ["fresh", "replayed"],
    "txn": ["new", "retried"],
}
PASSWORD = "135790"
MOMENT = dt.datetime(2026, 12, 2, 12, 5, 7, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai"))
DAILY_LIMIT = 30_000


def pairwise(factors: dict[str, list], seed: int = 15) -> list[dict]:
    """A covering set: every pair of values of every two factors appears in some case (greedy)."""
    names = list(factors)
    uncovered = {(a, va, b, vb) for a, b in itertools.combinations(names, 2)
                 for va in factors[a] for vb in factors[b]}
    rng = random.Random(seed)
    cases = []
    while uncovered:
        best, best_gain = None, -1
        for _try in range(40):
            a, va, b, vb = rng.choice(sorted(uncovered, key=str))
            case = {a: va, b: vb}
            for name in rng.sample(names, len(names)):
                if name in case:
                    continue
                case[name] = max(factors[name], key=lambda v, n=name: sum(
                    (n, v, m, case[m]) in uncovered or (m, case[m], n, v) in uncovered for m in case))
            gain = sum((a, case[a], b, case[b]) in uncovered for a, b in itertools.combinations(names, 2))
            if gain > best_gain:
                best, best_gain = case, gain
        cases.append(best)
        uncovered -= {(a, best[a], b, best[b]) for a, b in itertools.combinations(names, 2)}
    return cases


def case_matrix() -> list[dict]:
    base = {name: values[0] for name, values in FACTORS.items()}
    with_password = {**base, "amount": "free+1"}  # the second road: an amount that needs the password
    edges = [{**start, name: value} for start in (base, with_password)
             for name, values in FACTORS.items() for value in values]
    rng = random.Random(2026)
    sample = [{name: rng.choice(values) for name, values in FACTORS.items()} for _ in range(150)]
    unique: dict[tuple, dict] = {}
    for case in [*edges, *pairwise(FACTORS), *sample]:
        unique.setdefault(tuple(case[name] for name in FACTORS), case)
    return list(unique.values())


@dataclass
class World:
    name: str
    fast: bool
    live: Terminal
    revoked: Terminal
    merchant_account: int


def world(name: str, institution, fast: bool) -> World:
    merchant = pos.merchant_open(actor=Actor.system("t"), institution=institution, code=f"m-{name}", name=f"食堂{name}",
                                 category="canteen")
    terminals = []
    for role in ("live", "revoked"):
        device, _secret = device_register(actor=Actor.system("t"), institution=institution, kind=Device.Kind.POS,
                                          code=f"pos-{name}-{role}", name=role)
        terminals.append(Terminal.objects.create(device=device, merchant=merchant))
    device_revoke(actor=Actor.system("t"), device=terminals[1].device)
    return World(name, fast, terminals[0], terminals[1], merchant.account_id)


def amount_of(case: dict) -> int:
    free = settings.PASSWORD_FREE_LIMIT_FEN
    return {"free-1": free - 1, "free": free, "free+1": free + 1}[case["amount"]]


def holder(number: str, institution) -> Person:
    return Person.objects.create(institution=institution, number=number, name="差分测试", kind=Person.Kind.UNDERGRADUATE,
                                 status=Person.Status.FULL_TIME)


def pay(w: World, terminal: Terminal, *, txn_id: str, amount: int, presented: str, nfc: bool, password):
    """The outcome as the terminal sees it: ("ok", receipt fields) or (code, message parameters)."""
    with override_settings(PAYMENTS_FAST_PATH=w.fast):
        try:
            receipt = pos.payment_authorize(terminal=terminal, txn_id=txn_id, amount=amount, password=password,
                                            code="" if nfc else presented, nfc_uid=presented if nfc else "")
        except DomainError as refusal:
            return refusal.code, refusal.params
    fields = receipt.as_dict()
    assert fields.pop("txn_id") == txn_id
    # What differs between the twins by construction: the time, the row ids, the merchant, the card number.
    fields.pop("at"), fields.pop("payment_id"), fields.pop("merchant"), fields.pop("card")
    fields["method"] = str(fields["method"])
    return "ok", fields


def prepare(w: World, index: int, case: dict, institution, other_institution) -> dict:
    """Build the case's holder and card in world ``w`` and apply every factor; what to present."""
    amount = amount_of(case)
    home = institution if case["institution"] == "same" else other_institution
    person = holder(f"{w.name}{index:05d}", home)
    Person.objects.filter(pk=person.pk).update(payment_password=make_password(PASSWORD),
                                               payment_password_changed_at=MOMENT - dt.timedelta(days=1))
    person.refresh_from_db()
    card = card_issue(actor=Actor.system("t"), person=person)
    Card.objects.filter(pk=card.pk).update(kind=case["kind"])
    card.refresh_from_db()
    terminal = w.live if case["device"] == "live" else w.revoked
    balance = amount if case["balance"] == "amount" else amount - 1
    recharge_cash(channel="window", person=person, amount=balance + amount, key=f"fund-{index}")
    qr = card.credentials.get(kind=Credential.Kind.QR, active=True)
    hce = card.credentials.get(kind=Credential.Kind.HCE, active=True)
    txn_id = f"{w.name}-{index}"
    # A retried txn id: the same payment made once before, with the other dynamic credential.
    earlier = qr if case["credential"] == "hce" else hce
    first = pay(World(w.name, False, w.live, w.revoked, 0), terminal, txn_id=txn_id, amount=amount,
                presented=codes.current_code(earlier), nfc=False, password=PASSWORD)
    retried = case["txn"] == "retried" and first[0] == "ok"
    if not retried:  # the case presents a txn id of its own; the wallet is trimmed to the case's balance below
        txn_id = f"{w.name}-{index}-new"
    account = Account.objects.get(pk=card.wallet_account_id)
    spendable = account_balances(account_id=account.pk).available
    if spendable > balance:  # the wallet holds exactly the case's balance
        ledger.transfer_create(key=f"trim-{w.name}-{index}", debit=account, credit=ledger.system_account(
            institution_id=home.pk, kind=Account.Kind.SUSPENSE), amount=spendable - balance, kind="adjustment")
    if case["credential"] == "nfc":
        presented, nfc = f"04{w.name.encode().hex()}{index:08X}", True
        nfc_bind(actor=Actor.system("t"), card=card, uid=presented)
        credential = card.credentials.get(kind=Credential.Kind.NFC)
    elif case["credential"] == "offline":
        presented, nfc, credential = codes.offline_codes_issue(credential=qr, count=2)[0], False, qr
        if case["code"] == "replayed":  # the first of the batch (bulk_create keeps its order) was used
            first_code = OfflineCode.objects.filter(credential=qr).order_by("pk").values_list("pk", flat=True)[0]
            OfflineCode.objects.filter(pk=first_code).update(used_at=MOMENT)
    else:
        credential = hce if case["credential"] == "hce" else qr
        presented, nfc = codes.current_code(credential), False
        if case["code"] == "replayed":
            UsedCode.objects.get_or_create(credential=credential, step=codes.current_step(
                credential.secret, presented.rsplit(".", 1)[1]), defaults={"used_at": MOMENT})
        if case["credential"] == "numeric":
            presented = codes.numeric(presented, credential.pk)
    day = clock.local_date(home)
    room = {"plenty": DAILY_LIMIT, "amount": amount, "amount-1": amount - 1}[case["room"]]
    pos.daily_limit_set(actor=Actor.system("t"), person=person, limit=DAILY_LIMIT)
    DailyUsage.objects.update_or_create(person=person, day=day, defaults={
        "spent": DAILY_LIMIT - room, "wrong_passwords": 5 if case["password"] == "locked" else 0})
    password = {"right": PASSWORD, "none": None, "wrong": "000000", "locked": PASSWORD, "expired": PASSWORD,
                "unset": PASSWORD}[case["password"]]
    if case["password"] == "expired":
        Person.objects.filter(pk=person.pk).update(payment_password_changed_at=MOMENT - dt.timedelta(days=40))
    if case["password"] == "unset":
        Person.objects.filter(pk=person.pk).update(payment_password="", payment_password_changed_at=None)
    if not case["credential_active"]:
        Credential.objects.filter(pk=credential.pk).update(active=False)
    if case["wallet"] == "closed":
        ledger.account_set_status(account=account, status=Account.Status.CLOSED)
    Card.objects.filter(pk=card.pk).update(state=case["state"])
    return {"terminal": terminal, "txn_id": txn_id, "amount": amount, "presented": presented, "nfc": nfc,
            "password": password, "person": person, "card": card, "qr": qr, "hce": hce, "retried": retried}


def rows(setup: dict) -> dict:
    """Everything a payment writes that belongs to the case's holder."""
    person, card = setup["person"], setup["card"]
    usage = DailyUsage.objects.filter(person=person).values("spent", "wrong_passwords").first()
    balances = account_balances(account_id=card.wallet_account_id)
    payments = Payment.objects.filter(person=person).order_by("pk")
    assert all(number == card.number for number in payments.values_list("card__number", flat=True))
    return {"payments": list(payments.values_list("amount", "method", "balance_after", "refunded")),
            "usage": usage, "posted": balances.posted, "available": balances.available,
            "used_codes": UsedCode.objects.filter(credential__card=card).count(),
            "offline_used": OfflineCode.objects.filter(credential__card=card).exclude(used_at=None).count()}


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's; on SQLite both worlds would take the ordinary path")


def test_the_fast_path_decides_every_case_like_the_ordinary_path(institution, other_institution):
    cases = case_matrix()
    assert len(cases) >= 200
    mismatches, fast_hits, fast_eligible_payments, seen = [], 0, 0, set()
    with clock.frozen_at(MOMENT):
        ordinary, fast = world("A", institution, fast=False), world("B", institution, fast=True)
        setups = {w.name: [prepare(w, i, case, institution, other_institution) for i, case in enumerate(cases)]
                  for w in (ordinary, fast)}
        fastpath.forget()
        for i, case in enumerate(cases):
            outcomes = {}
            for w in (ordinary, fast):
                setup = setups[w.name][i]
                hits = fastpath.stats["hits"]
                outcome = pay(w, setup["terminal"], txn_id=setup["txn_id"], amount=setup["amount"],
                              presented=setup["presented"], nfc=setup["nfc"], password=setup["password"])
                outcomes[w.name] = (outcome, rows(setup))
                if w.fast:
                    fast_hits += fastpath.stats["hits"] - hits
                    if outcome[0] == "ok" and not setup["retried"] and case["credential"] in ("qr", "hce") \
                            and case["amount"] != "free+1":
                        fast_eligible_payments += 1
                        assert fastpath.stats["hits"] == hits + 1, f"the fast path did not take case {case}"
            seen.add(outcomes["A"][0][0])
            if outcomes["A"] != outcomes["B"]:
                mismatches.append((case, outcomes["A"], outcomes["B"]))
    assert not mismatches, "\n".join(f"{case}\n  ordinary: {a}\n  fast:     {b}" for case, a, b in mismatches[:10])
    # The matrix reaches both sides: payments the fast path made alone, and refusals of every kind.
    assert fast_hits == fast_eligible_payments and fast_hits >= 10
    assert {"card_lost", "payment_not_allowed", "device_revoked", "credential_unknown", "daily_limit_exceeded",
            "insufficient_funds", "account_closed", "qr_replayed", "offline_code_over_limit",
            "payment_password_locked", "payment_password_incorrect", "credential_other_institution"} <= seen
    takings = [account_balances(account_id=w.merchant_account).posted for w in (ordinary, fast)]
    assert takings[0] == takings[1] > 0
    assert ledger_check().ok
