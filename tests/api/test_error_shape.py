"""What an attack on the API found answered with a 500 or plain text, now each a coded refusal that
changes nothing (#18 item 9)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from campuscard.identity.models import Person
from tests.helpers import served_post

pytestmark = pytest.mark.django_db

TOO_BIG = json.dumps({"x": "a" * (3 * 1024 * 1024)}).encode()  # over DATA_UPLOAD_MAX_MEMORY_SIZE


@pytest.mark.parametrize("path", ["/api/v1/pos/payments", "/api/v1/access/gate/decide", "/api/v1/cards/code-status",
                                  "/api/v1/visit/abc/requests", "/api/v1/payments/gateways/sandbox/notify"])
def test_a_body_over_the_size_limit_is_refused_in_the_lane_and_in_django(path):
    refused = served_post(path, TOO_BIG, {"Accept-Language": "en"})
    assert refused.status_code == 413
    assert refused.json() == {"code": "request_too_large", "message": "The request is too large."}


@pytest.fixture
def operator_client(make_operator, institution):
    client = Client(headers={"Accept-Language": "en"})
    client.force_login(make_operator(institution, "card_center_operator"))
    return client


@pytest.mark.parametrize(("query", "field"), [("offset=9223372036854775808", "offset"), ("offset=-1", "offset"),
                                              ("limit=100000", "limit"), ("limit=0", "limit")])
def test_pages_are_bounded(operator_client, query, field):
    refused = operator_client.get(f"/api/v1/people?{query}")
    assert refused.status_code == 422 and refused.json()["code"] == "validation_error"
    assert refused.json()["details"][0]["loc"] == ["query", field]
    assert operator_client.get("/api/v1/people?limit=500&offset=2147483647").status_code == 200


def test_a_nul_in_a_query_string_is_refused_before_it_reaches_the_database(operator_client):
    count = Person.objects.count()
    refused = operator_client.get("/api/v1/people?q=%00")
    assert refused.status_code == 422 and refused.json()["code"] == "validation_error"
    assert operator_client.get("/login/?next=%00").status_code == 400
    assert Person.objects.count() == count


def test_a_wrong_method_is_answered_in_the_error_shape(operator_client):
    refused = operator_client.delete("/api/v1/cards")
    assert refused.status_code == 405 and refused["Allow"] == "GET"
    assert refused.json() == {"code": "method_not_allowed", "message": "This address does not take that method."}
