"""Outside channels bound to a card (ID-6, HIT FAQ §2): bind with the ID number and the query password,
a token good for exactly its scopes, revocation at once, guessing throttled per ID number and per address."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.hashers import make_password

from campuscard.cards import channels
from campuscard.cards.models import Card
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import AuditLog
from campuscard.identity.documents import IdType
from campuscard.identity.models import ChannelBinding, Person, User
from campuscard.identity.services import token_hash
from campuscard.support.models import Notification
from tests.conftest import ID_ALICE, ID_BOB

BIND = "/api/v1/channels/bind"
ALL_SCOPES = ["recharge", "balance", "transactions", "loss_report", "notifications"]


def _bind(client, *, id_number=ID_ALICE, password=None, scopes=("balance",), channel="校园卡小程序",
          institution="uni", address="10.0.0.1"):
    return client.post(BIND, {"institution": institution, "channel": channel, "id_number": id_number,
                              "query_password": ID_ALICE[-6:] if password is None else password,
                              "scopes": list(scopes)},
                       content_type="application/json", REMOTE_ADDR=address)


def _token(client, **kwargs) -> str:
    response = _bind(client, **kwargs)
    assert response.status_code == 201, response.json()
    return response.json()["token"]


def _bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def _log_in(client, person: Person) -> None:
    """The holder, signed in to the portal with their own password already set."""
    person.refresh_from_db()
    person.user.must_change_password = False
    person.user.save(update_fields=["must_change_password"])
    client.force_login(person.user)


def _state() -> tuple:
    """Everything a refused bind must leave as it was."""
    return (ChannelBinding.objects.count(), AuditLog.objects.count(), Notification.objects.count(),
            User.objects.count())


# --- binding -------------------------------------------------------------------------------------------

def test_bind_with_the_default_query_password_gives_a_token_once(client, student):
    response = _bind(client, scopes=["notifications", "balance", "balance"])
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("ch_") and body["prefix"] == body["token"][:10]
    assert body["scopes"] == ["balance", "notifications"]  # deduplicated, in one order
    assert body["holder"] == {"institution": "uni", "number": student.number, "name": student.name}
    binding = ChannelBinding.objects.get()
    assert binding.token_hash == token_hash(token=body["token"]) and body["token"] not in str(binding.__dict__)
    assert binding.via == ChannelBinding.Via.QUERY_PASSWORD and binding.person == student
    student.refresh_from_db()
    assert student.user is not None  # the token acts as the holder's login, created like at a first login
    audit = AuditLog.objects.get(action="channel_bound")
    assert audit.actor_label == "channel:校园卡小程序" and audit.after["address"] == "10.0.0.1"
    note = Notification.objects.get(person=student)
    assert note.kind == Notification.Kind.SECURITY and "校园卡小程序" in note.body


def test_bind_with_a_changed_query_password(client, student):
    student.query_password = make_password("my-query-9")
    student.save(update_fields=["query_password"])
    assert _bind(client).status_code == 401  # the default no longer works
    assert _bind(client, password="my-query-9").status_code == 201


@pytest.mark.parametrize("change", [
    {"password": "000000"},  # wrong query password
    {"id_number": ID_BOB},  # nobody with this ID number
    {"institution": "other"},  # the person is not in that institution
    {"id_number": ""},
])
def test_a_wrong_bind_is_refused_alike_and_changes_nothing(client, student, other_institution, change):
    before = _state()
    response = _bind(client, **change)
    assert response.status_code == 401 and response.json()["code"] == "channel_bind_failed"
    assert _state() == before
    student.refresh_from_db()
    assert student.user is None


@pytest.mark.parametrize("payload, code", [
    ({"scopes": []}, "channel_scopes_invalid"),
    ({"scopes": ["balance", "admin"]}, "channel_scopes_invalid"),
    ({"channel": "   "}, "channel_name_invalid"),
    ({"channel": "x" * 65}, "channel_name_invalid"),
])
def test_bad_input_is_refused_with_its_code(client, student, payload, code):
    before = _state()
    response = _bind(client, **payload)
    assert response.status_code == 422 and response.json()["code"] == code
    assert _state() == before


def test_of_two_records_the_live_one_is_bound(client, student):
    """A graduate back under a new number has two records with one ID number: the live one is bound."""
    student.status = Person.Status.GRADUATED
    student.save(update_fields=["status"])
    again = Person.objects.create(institution=student.institution, number="2028000001", name=student.name,
                                  kind=Person.Kind.GRADUATE, status=Person.Status.FULL_TIME,
                                  id_type=IdType.RESIDENT, id_number=ID_ALICE)
    _token(client)
    assert ChannelBinding.objects.get().person == again


def test_an_unknown_institution_is_404(client, student):
    assert _bind(client, institution="nowhere").json()["code"] == "institution_unknown"


# --- scopes ----------------------------------------------------------------------------------------------

def _calls(card_number: str) -> dict:
    return {
        "balance": [("get", "/api/v1/wallet", None)],
        "transactions": [("get", "/api/v1/wallet/transactions", None)],
        "recharge": [("post", "/api/v1/wallet/recharges", {"amount": 1000})],
        "notifications": [("get", "/api/v1/me/notifications", None)],
        "loss_report": [("post", f"/api/v1/cards/{card_number}/lost", None)],
    }


def _call(client, method, path, body, token):
    kwargs = {**_bearer(token), "HTTP_IDEMPOTENCY_KEY": "k-" + path.replace("/", "-")}
    if body is not None:
        return getattr(client, method)(path, body, content_type="application/json", **kwargs)
    return getattr(client, method)(path, **kwargs)


@pytest.mark.parametrize("scope", ALL_SCOPES)
def test_each_scope_allows_its_endpoints_and_only_them(client, student, card, scope):
    token = _token(client, scopes=[scope])
    for granted, calls in _calls(card.number).items():
        for method, path, body in calls:
            response = _call(client, method, path, body, token)
            if granted == scope:
                assert response.status_code in (200, 201), (scope, path, response.json())
            else:
                assert response.status_code == 403, (scope, path, response.status_code)
                assert response.json()["code"] == "channel_scope_missing"
    card.refresh_from_db()
    assert (card.state == Card.State.LOST) == (scope == "loss_report")  # refused calls changed nothing
    # the card list (to find the number to report lost) goes with the balance and the loss report
    assert client.get("/api/v1/cards", **_bearer(token)).status_code == (
        200 if scope in ("balance", "loss_report") else 403)


def test_the_endpoints_answer_about_the_bound_holder(client, student, card):
    token = _token(client, scopes=ALL_SCOPES)
    assert client.get("/api/v1/wallet", **_bearer(token)).json()["available"] == 0
    notes = client.get("/api/v1/me/notifications", **_bearer(token)).json()
    assert [n["kind"] for n in notes] == ["security"]  # the binding's own notice
    assert [c["number"] for c in client.get("/api/v1/cards", **_bearer(token)).json()] == [card.number]


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/me"), ("post", "/api/v1/me/query-password"), ("get", "/api/v1/me/channels"),
    ("post", "/api/v1/me/channels"), ("post", "/api/v1/cards/{n}/found"), ("post", "/api/v1/cards/{n}/replace"),
    ("get", "/api/v1/cards/{n}/code"), ("get", "/api/v1/people"),
])
def test_a_channel_token_opens_nothing_outside_its_scopes(client, student, card, method, path):
    token = _token(client, scopes=ALL_SCOPES)
    response = getattr(client, method)(path.format(n=card.number), {}, content_type="application/json",
                                       **_bearer(token))
    assert response.status_code == 403 and response.json()["code"] == "channel_scope_missing"


def test_last_used_is_recorded(client, student, card):
    token = _token(client, scopes=["balance"])
    assert ChannelBinding.objects.get().last_used_at is None
    client.get("/api/v1/wallet", **_bearer(token))
    assert ChannelBinding.objects.get().last_used_at is not None


def test_an_unknown_token_is_401(client, student):
    response = client.get("/api/v1/wallet", **_bearer("ch_not-a-token"))
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


# --- revocation ----------------------------------------------------------------------------------------

def test_revoked_in_the_portal_the_token_stops_at_once(client, student, card):
    token = _token(client, scopes=["balance"])
    assert client.get("/api/v1/wallet", **_bearer(token)).status_code == 200
    _log_in(client, student)
    page = client.get("/security/").content.decode()
    binding = ChannelBinding.objects.get()
    assert "校园卡小程序" in page and f'id="revoke-{binding.pk}"' in page
    assert client.post(f"/security/channels/{binding.pk}/revoke/").status_code == 302
    client.logout()
    response = client.get("/api/v1/wallet", **_bearer(token))
    assert response.status_code == 401 and response.json()["code"] == "channel_token_revoked"
    binding.refresh_from_db()
    assert binding.revoked_at is not None and binding.revoked_by == student.user
    assert AuditLog.objects.filter(action="channel_binding_revoked", object_id=str(binding.pk)).exists()
    assert Notification.objects.filter(person=student, kind="security", title__isnull=False).count() == 2


def test_a_holder_cannot_revoke_anothers_binding(client, student, staff_member):
    _token(client)
    other = _token(client, id_number=ID_BOB, password=ID_BOB[-6:])
    theirs = ChannelBinding.objects.get(token_hash=token_hash(token=other))
    _log_in(client, student)
    assert client.post(f"/security/channels/{theirs.pk}/revoke/").status_code == 404
    assert client.delete(f"/api/v1/me/channels/{theirs.pk}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoke_through_the_api_and_twice(client, student):
    _token(client)
    binding = ChannelBinding.objects.get()
    _log_in(client, student)
    assert client.delete(f"/api/v1/me/channels/{binding.pk}").json()["revoked_at"] is not None
    again = client.delete(f"/api/v1/me/channels/{binding.pk}")
    assert again.status_code == 409 and again.json()["code"] == "channel_binding_not_live"


def test_the_holder_binds_a_channel_in_the_portal(client, student, card):
    client.post("/login/", {"institution": "uni", "number": student.number, "password": ID_ALICE[-6:]})
    student.refresh_from_db()
    student.user.must_change_password = False
    student.user.save(update_fields=["must_change_password"])
    page = client.post("/security/channels/", {"channel": "我的 App", "scopes": ["balance", "transactions"]})
    assert page.status_code == 200
    token = page.context["token"]
    assert token in page.content.decode() and "<svg" in page.content.decode()
    binding = ChannelBinding.objects.get()
    assert binding.via == ChannelBinding.Via.PORTAL and binding.scopes == ["balance", "transactions"]
    client.logout()
    assert client.get("/api/v1/wallet/transactions", **_bearer(token)).status_code == 200
    # shown once: the security page lists it by prefix only
    _log_in(client, student)
    listing = client.get("/security/").content.decode()
    assert binding.prefix in listing and token not in listing


def test_operators_revoke_bindings_of_their_institution_only(client, student, other_institution, make_operator):
    token = _token(client)
    binding = ChannelBinding.objects.get()
    outsider = make_operator(other_institution, "card_center_operator")
    with pytest.raises(Exception) as refused:
        channels.channel_binding_revoke(actor=Actor.by_user(outsider), binding=binding)
    assert getattr(refused.value, "code", None) == "forbidden"
    row = f'name="_selected_action" value="{binding.pk}"'
    client.force_login(outsider)
    outside = client.get("/backoffice/identity/channelbinding/")
    assert outside.status_code == 200 and row not in outside.content.decode()
    operator = make_operator(student.institution, "card_center_operator")
    client.force_login(operator)
    listing = client.get("/backoffice/identity/channelbinding/")
    assert listing.status_code == 200 and row in listing.content.decode() and "校园卡小程序" in listing.content.decode()
    client.post("/backoffice/identity/channelbinding/", {"action": "revoke", "_selected_action": [binding.pk]})
    binding.refresh_from_db()
    assert binding.revoked_at is not None and binding.revoked_by == operator
    client.logout()
    assert client.get("/api/v1/wallet", **_bearer(token)).status_code == 401
    note = Notification.objects.filter(person=student).order_by("-created_at").first()
    assert note is not None and note.kind == "security"


# --- throttling --------------------------------------------------------------------------------------

@pytest.fixture
def spy_verify(monkeypatch):
    calls = []
    real = channels.query_password_verify

    def spy(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(channels, "query_password_verify", spy)
    return calls


def test_wrong_passwords_per_id_number_block_binding_without_checking(client, student, settings, spy_verify):
    settings.CHANNEL_BIND_MAX_WRONG_PER_ID = 3
    for attempt in range(3):  # from three different addresses: the ID number's own count
        assert _bind(client, password="000000", address=f"10.0.1.{attempt}").status_code == 401
    assert len(spy_verify) == 3
    before = _state()
    locked = _bind(client, address="10.0.9.9")  # even the right password
    assert locked.status_code == 429 and locked.json()["code"] == "channel_bind_locked"
    assert "15" in locked.json()["message"]
    assert len(spy_verify) == 3  # refused before checking
    assert _state() == before
    # another person from the same addresses is not affected
    assert _bind(client, id_number=ID_BOB, password=ID_BOB[-6:], address="10.0.1.0").status_code in (201, 401)
    # the window passes: binding works again
    with clock.frozen_at(clock.now() + dt.timedelta(seconds=settings.CHANNEL_BIND_LOCK_SECONDS + 1)):
        assert _bind(client, address="10.0.9.9").status_code == 201


def test_wrong_passwords_per_address_block_binding_without_checking(client, student, staff_member, settings,
                                                                     spy_verify):
    settings.CHANNEL_BIND_MAX_WRONG_PER_ADDRESS = 4
    for attempt in range(4):  # four different ID numbers (some unknown), one address
        ids = [ID_BOB, "110105200001011234", "110105200001021232", ID_ALICE]
        assert _bind(client, id_number=ids[attempt], password="999999", address="10.0.2.2").status_code == 401
    before = _state()
    locked = _bind(client, address="10.0.2.2")
    assert locked.status_code == 429 and locked.json()["code"] == "channel_bind_locked"
    assert _state() == before
    assert len(spy_verify) == 2  # the two known people; the locked attempt was not checked
    assert _bind(client, address="10.0.3.3").status_code == 201  # another address may


def test_a_right_password_clears_the_id_count_but_not_the_address_count(client, student, settings):
    settings.CHANNEL_BIND_MAX_WRONG_PER_ID = 3
    settings.CHANNEL_BIND_MAX_WRONG_PER_ADDRESS = 3
    for _ in range(2):
        _bind(client, password="000000", address="10.0.4.4")
    assert _bind(client, address="10.0.5.5").status_code == 201  # clears the ID number's count
    assert _bind(client, password="000000", address="10.0.6.6").status_code == 401
    assert _bind(client, password="000000", address="10.0.6.6").status_code == 401
    assert _bind(client, address="10.0.7.7").status_code == 201  # 2 wrong since the success: not locked
    assert _bind(client, password="000000", address="10.0.4.4").status_code == 401  # the address's third
    assert _bind(client, address="10.0.4.4").json()["code"] == "channel_bind_locked"
