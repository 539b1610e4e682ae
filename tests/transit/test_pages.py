"""The portal's bus page and the browser validator (presentation over transit.services)."""

import json

import pytest
from django.test import Client

from campuscard.cards.services import nfc_bind
from campuscard.identity.services import holder_user_ensure
from campuscard.payments.services import recharge_cash
from campuscard.terminals.web import set_device_cookie
from campuscard.transit import services
from campuscard.transit.models import Binding, Dispute, Tap
from tests.transit.conftest import SYSTEM, UID, available, taps

pytestmark = pytest.mark.django_db


def holder(person):
    user = holder_user_ensure(person=person)
    user.must_change_password = False
    user.save()
    client = Client()
    client.force_login(user)
    return client


def validator_client(validator):
    client = Client()
    response = client.get("/")
    set_device_cookie(response, validator.device)
    client.cookies.update(response.cookies)
    return client


def test_holder_binds_in_the_portal_and_sees_rides(student, card, validator):
    recharge_cash(channel="window", person=student, amount=150, key="f")
    nfc_bind(actor=SYSTEM, card=card, uid=UID)
    client = holder(student)
    page = client.get("/transit/")
    assert page.status_code == 200 and f'id="transit-bind-{card.number}"' in page.text
    refused = client.post("/transit/bind/", {"card": card.number}, follow=True)
    assert "transit_terms_required" in refused.text and not Binding.objects.exists()
    client.post("/transit/bind/", {"card": card.number, "accept_terms": "on", "with_card": "on"})
    binding = Binding.objects.get()
    assert binding.state == "active" and binding.with_card and not binding.phone_bound
    services.taps_upload(device=validator.device, taps=taps(1, 2, 3))
    page = client.get("/transit/")
    assert page.text.count('data-state="charged"') == 2 and 'data-state="refused"' in page.text  # ¥1.50: ¥1, then to −¥0.50, then refused
    assert "transit-below-zero" in page.text
    ride = Tap.objects.filter(state="charged").first()
    client.post(f"/transit/rides/{ride.pk}/dispute/", {"reason": "不是我"})
    assert Dispute.objects.get().tap == ride
    binding = Binding.objects.get()
    client.post(f"/transit/bindings/{binding.pk}/", {"state": "suspended"})
    binding.refresh_from_db()
    assert binding.state == "suspended"


def test_validator_page_downloads_its_snapshot_and_uploads(validator, bound):
    client = validator_client(validator)
    page = client.get("/devices/validator/")
    assert page.status_code == 200 and 'id="validator-input"' in page.text
    snapshot = client.get("/devices/validator/snapshot/").json()
    assert snapshot["holders"] == {UID: "student"}
    body = json.dumps({"deny_version": snapshot["deny_list"]["version"], "taps": taps(1, 2)})
    first = client.post("/devices/validator/upload/", body, content_type="application/json").json()
    again = client.post("/devices/validator/upload/", body, content_type="application/json").json()
    assert (first["charged"], again["duplicates"]) == (2, 2) and available(bound) == 800
    assert Client().get("/devices/validator/").status_code == 302  # not enrolled: to the enrol page


def test_holder_binds_the_phone_in_the_portal_and_unbinds_it(student, card, validator):
    client = holder(student)
    page = client.get("/transit/")
    assert f'id="transit-phone-{card.number}"' in page.text and f'id="transit-card-{card.number}"' not in page.text
    refused = client.post("/transit/bind/", {"card": card.number, "accept_terms": "on"}, follow=True)
    assert "transit_medium_required" in refused.text and not Binding.objects.exists()
    client.post("/transit/bind/", {"card": card.number, "accept_terms": "on", "with_phone": "on"})
    binding = Binding.objects.get()
    assert binding.phone_bound and not binding.with_card
    assert f'id="binding-phone-{binding.pk}"' in client.get("/transit/").text
    snapshot = validator_client(validator).get("/devices/validator/snapshot/").json()
    assert snapshot["phones"] == {binding.phone.token: "student"}
    client.post(f"/transit/bindings/{binding.pk}/", {"phone": "off"})
    binding.refresh_from_db()
    assert (binding.state, binding.end_reason) == ("ended", "phone_unbound")  # nothing left to ride with
