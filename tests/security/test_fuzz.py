"""Every endpoint fuzzed (#18 item 4): schemathesis generates requests from the whole OpenAPI document
and sends them in-process through the production WSGI stack (device lane + Django), as four callers —
anonymous, a holder's portal session, an integration's bearer token and a signed device. Every answer
must be no server error (5xx) and match the document: a status it lists, its content type, its schema.

Bounded for CI: ``FUZZ_EXAMPLES`` examples per operation and caller (default 4, derandomized, so a run is
repeatable); raise it locally to search longer. Every failure is collected (not shrunk) and reported with
the operation, the caller and a curl line to reproduce it.
"""

from __future__ import annotations

import os
from collections import defaultdict

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from campuscard.api.main import api
from tests.security.callers import Caller
from tests.security.conftest import session_cookie

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
CALLERS = ["anonymous", "holder session", "bearer token", "signed device"]


def _caller(name: str, world) -> Caller:
    if name == "holder session":
        return Caller(name, session=session_cookie(world.holder_a.user))
    if name == "bearer token":
        return Caller(name, token=world.operator_token)
    if name == "signed device":
        pos, kiosk = (world.pos.code, world.pos_secret), (world.kiosk.code, world.kiosk_secret)
        return Caller(name, pick_device=lambda path: pos if path.startswith("/api/v1/pos/") else kiosk)
    return Caller(name)


def _schema():
    document = api.get_openapi_schema(path_prefix="/api/v1")
    return schemathesis.openapi.from_dict(dict(document))


def fuzz(operation, caller: Caller, failures: dict) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, verbosity=Verbosity.quiet,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def run(case):
        # each example from the same state, and a database error (PostgreSQL aborts the test's transaction)
        # stays that request's own 500, as it would in production's autocommit
        savepoint = transaction.savepoint()
        try:
            response = case.call(app=caller)
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as error:  # noqa: BLE001 - collected, reported below
            found = failures[operation.label]
            if len(found) < 2:
                try:
                    curl = case.as_curl_command()
                except Exception:  # noqa: BLE001
                    curl = "?"
                found.append(f"[{caller.label}] {type(error).__name__}: {str(error)[:900]}\n    {curl[:400]}")
        finally:
            transaction.savepoint_rollback(savepoint)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("who", CALLERS)
def test_every_operation_answers_within_its_document(world, who):
    schema = _schema()
    caller = _caller(who, world)
    failures: dict[str, list[str]] = defaultdict(list)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 90, "the OpenAPI document lost its operations"
    for operation in operations:
        fuzz(operation, caller, failures)
    report = "\n".join(f"{label}:\n  " + "\n  ".join(found) for label, found in sorted(failures.items()))
    assert not failures, f"{len(failures)} of {len(operations)} operations failed as {who}:\n{report}"


def test_the_document_names_each_schema_once():
    """django-ninja names a component by its class name: two schema classes of one name in two API modules
    overwrote each other, and the document described one endpoint's body or answer with the other's (the
    fuzzer found a certificate photo's answer checked against the registrar photos' — #18 item 4)."""
    import importlib
    import inspect
    import pkgutil

    from pydantic import BaseModel

    import campuscard.api

    shapes: dict[str, dict[str, tuple]] = defaultdict(dict)
    for info in pkgutil.iter_modules(campuscard.api.__path__):
        module = importlib.import_module(f"campuscard.api.{info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__:
                shapes[name][info.name] = tuple((f, repr(field.annotation)) for f, field in cls.model_fields.items())
    clashes = {name: sorted(by_module) for name, by_module in shapes.items() if len(set(by_module.values())) > 1}
    assert not clashes, f"schema classes named alike but shaped differently (rename one of each): {clashes}"
