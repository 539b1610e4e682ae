"""TEN-1 through side doors: list filters and photo files."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from campuscard.cards.models import Photo
from campuscard.core import clock
from campuscard.core.models import Campus
from campuscard.identity.services import holder_user_ensure

pytestmark = pytest.mark.django_db


def test_list_filters_offer_only_the_users_institution(client, institution, other_institution, make_operator):
    Campus.objects.create(institution=other_institution, code="secret", name="保密校区", name_en="Secret Campus")
    client.force_login(make_operator(institution, "auditor"))
    page = client.get("/backoffice/core/area/").content.decode()
    assert "保密校区" not in page and other_institution.name not in page


@pytest.fixture
def photo(student, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(buffer, "PNG")
    return Photo.objects.create(person=student, uploaded_at=clock.now(),
                                image=SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png"))


def test_photo_files_are_private(client, photo, student, institution, other_institution, make_operator):
    url = photo.image.url
    assert client.get(url).status_code == 404  # anonymous
    user = holder_user_ensure(person=student)
    client.force_login(user)
    assert client.get(url).status_code == 200
    client.force_login(make_operator(other_institution, "card_center_operator", "other-op"))
    assert client.get(url).status_code == 404
    client.force_login(make_operator(institution, "card_center_operator", "own-op"))
    assert client.get(url).status_code == 200
