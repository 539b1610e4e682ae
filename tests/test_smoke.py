import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_login_page_renders_in_chinese_by_default(client, institution):
    response = client.get(reverse("portal:login"))
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "zh-hans"


@pytest.mark.django_db
def test_openapi_document_is_served(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "CampusCard API"
