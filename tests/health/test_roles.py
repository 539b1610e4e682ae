"""The new roles (clinician, hospital feed, equipment desk) are granted by the institution's administrator in the
back office, to users of their own institution only (TEN-1)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from campuscard.health.services import is_clinician_of
from campuscard.identity.models import User

pytestmark = pytest.mark.django_db


def _form(client, user) -> dict:
    """The user's change form as the browser would send it back (every field it shows, as shown)."""
    import re

    page = client.get(reverse("admin:identity_user_change", args=[user.pk])).content.decode()
    data = {}
    for tag in re.findall(r"<input[^>]*>", page):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) in ("csrfmiddlewaretoken",):
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if kind and kind.group(1) == "checkbox":
            if "checked" in tag:
                data[name.group(1)] = "on"
            continue
        data[name.group(1)] = value.group(1) if value else ""
    return data


@pytest.mark.parametrize("role", ["clinician", "hospital_feed", "equipment_desk"])
def test_the_institution_admin_grants_the_role(institution, other_institution, make_operator, role):
    admin = make_operator(institution, "institution_admin")
    target = User.objects.create_user(username="new-colleague", institution=institution, is_staff=True)
    client = Client()
    client.force_login(admin)
    data = {**_form(client, target), "groups": [Group.objects.get(name=role).pk], "_save": "Save"}
    answer = client.post(reverse("admin:identity_user_change", args=[target.pk]), data)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert list(target.groups.values_list("name", flat=True)) == [role]
    if role == "clinician":
        target.refresh_from_db()
        assert is_clinician_of(user=User.objects.get(pk=target.pk), institution_id=institution.pk)
    # not for another institution's user: that user is not theirs to open
    foreign = User.objects.create_user(username="far-colleague", institution=other_institution, is_staff=True)
    refused = client.post(reverse("admin:identity_user_change", args=[foreign.pk]), data)
    assert refused.status_code in (302, 403, 404) and not foreign.groups.exists()
