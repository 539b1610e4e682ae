"""Visitor invitation links (ACC-3, "a visitor through a host-approved link"): the host's link, the
visitor's own request and page, the host's decision, and every pass rule applied when the pass is made."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from campuscard.access import invites, keys, services
from campuscard.access.models import AccessEvent, VisitorPass, VisitorRequest
from campuscard.cards.services import card_report_lost
from campuscard.core.actors import Actor
from campuscard.core.clock import frozen_at
from campuscard.core.errors import DomainError
from campuscard.support.models import Notification
from tests.access.conftest import NOON, holder, local
from tests.access.test_pages import portal_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(institution, place):
    person, card, _uid = holder(institution)
    return person, card


def make_invite(host, place, **options):
    zones = [place["zones"]["gate"], place["zones"]["teaching"]]
    with frozen_at(NOON):
        return invites.invite_create(actor=Actor.system("t"), host=host[0], purpose="讲座嘉宾", zones=zones,
                                     hours=options.pop("hours", 72), **options)


def submit(invite, name="王访客", start=(14, 0), end=(18, 0), at=NOON):
    with frozen_at(at):
        return invites.request_submit(token=invite.token, visitor_name=name, visitor_phone="13800000000",
                                      valid_from=local(2026, 11, 30, *start), valid_to=local(2026, 11, 30, *end))


def test_a_request_waits_for_the_host_who_is_told_then_approval_makes_a_verifiable_pass(host, place, institution):
    invite = make_invite(host, place)
    request = submit(invite)
    assert request.state == "requested" and request.visitor_pass is None and not VisitorPass.objects.exists()
    note = Notification.objects.get(person=host[0])
    assert "王访客" in note.body and note.link == "/access/visitors/"
    with frozen_at(NOON + dt.timedelta(minutes=5)):
        invites.request_decide(actor=Actor.system("t"), host=host[0], request=request, approve=True)
    request.refresh_from_db()
    visitor_pass = request.visitor_pass
    assert request.state == "approved" and visitor_pass.host == host[0] and visitor_pass.visitor_name == "王访客"
    assert set(visitor_pass.zones.all()) == {place["zones"]["gate"], place["zones"]["teaching"]}
    claims = keys.verify_visitor_code(services.visitor_code(visitor_pass=visitor_pass),
                                      lambda key_id: keys.public_key(institution.pk, key_id))
    assert claims.pass_id == visitor_pass.pk
    with pytest.raises(DomainError) as again:
        invites.request_decide(actor=Actor.system("t"), host=host[0], request=request, approve=False)
    assert again.value.code == "visitor_request_decided"


def test_a_link_that_grants_at_once_gives_the_pass_on_submission(host, place):
    request = submit(make_invite(host, place, needs_approval=False))
    assert request.state == "approved" and request.visitor_pass.valid_from == local(2026, 11, 30, 14, 0)


def test_a_declined_request_frees_its_place_and_shows_the_reason(host, place):
    invite = make_invite(host, place, max_visitors=1)
    first = submit(invite)
    with pytest.raises(DomainError) as full:
        submit(invite, name="第二位")
    assert full.value.code == "visitor_invite_used_up"
    with frozen_at(NOON):
        invites.request_decide(actor=Actor.system("t"), host=host[0], request=first, approve=False, note="名额已满")
    first.refresh_from_db()
    assert first.state == "rejected" and first.decision_note == "名额已满"
    assert submit(invite, name="第二位").state == "requested"


@pytest.mark.parametrize(("start", "end", "code"), [
    ((18, 1), (20, 0), "visitor_too_far_ahead"),  # 6 h 1 min ahead
    ((11, 0), (13, 0), "visitor_in_past"),
    ((15, 0), (14, 0), "visitor_window_invalid"),
])
def test_the_pass_window_rules_apply_to_a_visitor_s_request(host, place, start, end, code):
    with pytest.raises(DomainError) as refused:
        submit(make_invite(host, place), start=start, end=end)
    assert refused.value.code == code and not VisitorRequest.objects.exists()


def test_expired_revoked_and_unknown_links_look_the_same(host, place):
    invite = make_invite(host, place, hours=24)
    with pytest.raises(DomainError) as expired:
        submit(invite, at=NOON + dt.timedelta(hours=24))
    invites.invite_revoke(actor=Actor.system("t"), invite=invite)
    with pytest.raises(DomainError) as revoked:
        submit(invite)
    with pytest.raises(DomainError) as unknown:
        invites.invite_open(token="no-such-token")
    assert expired.value.code == revoked.value.code == unknown.value.code == "visitor_invite_invalid"


def test_approval_keeps_the_rules_of_that_moment(host, place):
    invite = make_invite(host, place, max_visitors=2)
    late = submit(invite, start=(12, 30), end=(13, 0))
    with frozen_at(local(2026, 11, 30, 12, 45)):  # approved during the visit: the pass starts now
        invites.request_decide(actor=Actor.system("t"), host=host[0], request=late, approve=True)
    late.refresh_from_db()
    assert late.visitor_pass.valid_from == local(2026, 11, 30, 12, 45)
    over = submit(invite, start=(12, 30), end=(13, 0), name="迟到")
    with frozen_at(local(2026, 11, 30, 13, 5)), pytest.raises(DomainError) as ended:
        invites.request_decide(actor=Actor.system("t"), host=host[0], request=over, approve=True)
    assert ended.value.code == "visitor_request_expired"


def test_only_the_inviting_host_decides_and_a_host_who_lost_the_card_cannot_approve(host, place, institution):
    invite = make_invite(host, place, max_visitors=2)
    request = submit(invite)
    other, _card, _uid = holder(institution)
    with pytest.raises(DomainError) as foreign:
        invites.request_decide(actor=Actor.system("t"), host=other, request=request, approve=True)
    assert foreign.value.code == "forbidden"
    card_report_lost(actor=Actor.system("t"), card=host[1], channel="portal")
    with frozen_at(NOON), pytest.raises(DomainError) as lost:
        invites.request_decide(actor=Actor.system("t"), host=host[0], request=request, approve=True)
    assert lost.value.code == "visitor_host_not_allowed" and not VisitorPass.objects.exists()


def test_the_journey_through_the_pages(host, place, gate):
    """Host creates a link in the portal, the visitor (no account) asks, the host approves, the visitor's
    own page shows the code and a gate admits it."""
    person, _card = host
    client = portal_client(person)
    zones = [place["zones"]["gate"].pk, place["zones"]["teaching"].pk]
    with frozen_at(NOON):
        created = client.post("/access/visitors/links/", {"purpose": "项目合作", "hours": "72", "max_visitors": "3",
                                                          "zones": zones, "needs_approval": "1"})
        assert created.status_code == 302
        invite = person.visitor_invites.get()
        page = client.get("/access/visitors/").content.decode()
        assert f"/visit/{invite.token}/" in page and "项目合作" in page
        visitor = Client()
        form = visitor.get(f"/visit/{invite.token}/")
        assert form.status_code == 200 and 'id="visit-form"' in form.content.decode()
        refused = visitor.post(f"/visit/{invite.token}/", {"visitor_name": "李访客", "visitor_phone": "139",
                                                           "valid_from": "2026-11-30T14:00",
                                                           "valid_to": "2026-11-30T16:00"})
        assert refused.status_code == 200 and 'data-code="validation_error"' in refused.content.decode()
        sent = visitor.post(f"/visit/{invite.token}/", {"visitor_name": "李访客", "visitor_phone": "13900000000",
                                                        "valid_from": "2026-11-30T14:00",
                                                        "valid_to": "2026-11-30T16:00"})
        request = VisitorRequest.objects.get()
        assert sent.status_code == 302 and sent["Location"] == f"/visit/status/{request.token}/"
        assert 'id="visit-waiting"' in visitor.get(sent["Location"]).content.decode()
        assert client.post(f"/access/visitors/requests/{request.pk}/decide/",
                           {"decision": "approve"}).status_code == 302
        status = visitor.get(sent["Location"]).content.decode()
    assert 'id="visit-qr"' in status and "<svg" in status
    request.refresh_from_db()
    with frozen_at(local(2026, 11, 30, 14, 30)):
        outcome = services.gate_decide(device=gate[0], zone_code="teach-1",
                                       visitor_code=services.visitor_code(visitor_pass=request.visitor_pass))
    assert outcome.decision.admitted and AccessEvent.objects.get().visitor_pass == request.visitor_pass
    assert Client().get("/visit/status/not-a-token/").status_code == 404


def test_the_same_through_the_api(host, place):
    person, _card = host
    client = portal_client(person)
    with frozen_at(NOON):
        created = client.post("/api/v1/access/visitor-invites", {"purpose": "面试", "zones": ["south-gate"],
                                                                 "hours": 24}, content_type="application/json")
        assert created.status_code == 201, created.content
        token = created.json()["url"].rstrip("/").rsplit("/", 1)[1]
        too_long = client.post("/api/v1/access/visitor-invites", {"purpose": "x", "zones": ["south-gate"],
                                                                  "hours": 1000}, content_type="application/json")
        assert too_long.json()["code"] == "visitor_invite_hours"
        asked = Client().post(f"/api/v1/visit/{token}/requests", {
            "visitor_name": "赵访客", "visitor_phone": "13700000000", "valid_from": "2026-11-30T13:00:00+08:00",
            "valid_to": "2026-11-30T15:00:00+08:00"}, content_type="application/json")
        assert asked.status_code == 201 and asked.json()["state"] == "requested"
        request = VisitorRequest.objects.get()
        decided = client.post(f"/api/v1/access/visitor-requests/{request.pk}/decision", {"approve": True},
                              content_type="application/json")
    assert decided.status_code == 200 and decided.json()["state"] == "approved"
    assert decided.json()["status_url"] == asked.json()["status_url"]
    assert Client().post("/api/v1/visit/nope/requests", {
        "visitor_name": "赵", "visitor_phone": "13700000000", "valid_from": "2026-11-30T13:00:00+08:00",
        "valid_to": "2026-11-30T15:00:00+08:00"}, content_type="application/json").status_code == 404
