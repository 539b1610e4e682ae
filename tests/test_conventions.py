"""The house rules that a reviewer would otherwise have to remember (ARCHITECTURE rules 1 and 5).

* Services are keyword-only: every public function of a service module takes only keyword arguments, so
  a call reads ``card_report_lost(actor=…, card=…, channel=…)`` and arguments can be added or reordered
  without silently shifting. Modules that are mostly a library (codes, keys, the offline snapshot) are
  checked for their writers only.
* Every ``actor`` parameter anywhere in the project is a ``core.actors.Actor`` — never a bare user or
  string — and ``audit_record`` refuses anything else.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import campuscard
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record

SRC = Path(campuscard.__file__).parent

# The modules that play the role of ``services.py``: every public function is a service.
SERVICE_MODULES = sorted(
    [f"campuscard.{path.parent.name}.services" for path in SRC.glob("*/services.py")]
    + ["campuscard.payments.pos", "campuscard.access.invites", "campuscard.cards.imports",
       "campuscard.identity.roster", "campuscard.cards.channels", "campuscard.cards.issuing"]
)

# Library modules that also hold a few writers: those writers (and any function taking an ``actor``).
WRITERS_IN_LIBRARIES = {
    "campuscard.cards.codes": {"code_accept", "nfc_accept", "offline_codes_issue"},
    "campuscard.access.keys": {"signing_key_rotate", "signing_key_retire"},
    "campuscard.access.offline": {"snapshot_build"},
    "campuscard.enrollment.face_checks": {"face_attempt_start", "face_attempt_submit", "face_attempt_check"},
    "campuscard.enrollment.registrar": {"registrar_photo_store", "registrar_photos_import"},
    "campuscard.enrollment.terminal_faces": {"terminal_face_compute", "terminal_faces_sync"},
}

# Reasoned exceptions: (module, function) -> why it keeps positional parameters.
POSITIONAL_ALLOWED = {
    ("campuscard.payments.pos", "receipt"):
        "maps a receipt row (the fast path's SELECT, in column order) to the receipt: called as receipt(*row)",
}


def _functions(module_name: str):
    module = importlib.import_module(module_name)
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if fn.__module__ == module_name and not name.startswith("_"):
            yield name, fn


def _positional(fn) -> list[str]:
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.VAR_POSITIONAL)
    return [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds]


def _checked():
    for module_name in SERVICE_MODULES:
        yield from ((module_name, name, fn) for name, fn in _functions(module_name))
    for module_name, writers in WRITERS_IN_LIBRARIES.items():
        for name, fn in _functions(module_name):
            if name in writers or "actor" in inspect.signature(fn).parameters:
                yield module_name, name, fn


def test_the_service_modules_are_found():
    assert {"campuscard.cards.services", "campuscard.ledger.services", "campuscard.payments.pos"} <= set(
        SERVICE_MODULES)
    for module_name, writers in WRITERS_IN_LIBRARIES.items():
        assert writers <= {name for name, _fn in _functions(module_name)}, f"{module_name}: a writer was renamed"


def test_services_take_keyword_arguments_only():
    offenders = [f"{module_name}.{name}({', '.join(positional)})"
                 for module_name, name, fn in _checked()
                 if (positional := _positional(fn)) and (module_name, name) not in POSITIONAL_ALLOWED]
    assert not offenders, "services are keyword-only (def f(*, …)); positional parameters in:\n" + "\n".join(
        offenders)


def test_positional_exceptions_are_still_needed():
    for (module_name, name), _why in POSITIONAL_ALLOWED.items():
        fn = getattr(importlib.import_module(module_name), name)
        assert _positional(fn), f"{module_name}.{name} is keyword-only now: drop it from POSITIONAL_ALLOWED"


def _all_modules():
    for info in pkgutil.walk_packages(campuscard.__path__, "campuscard."):
        if ".migrations" in info.name or info.name.endswith((".settings", ".settings_test", ".wsgi")):
            continue
        yield importlib.import_module(info.name)


def test_every_actor_parameter_is_an_actor():
    """Everywhere, not only in services: a helper taking ``actor`` passes it on to a service or the audit."""
    offenders, seen = [], 0
    for module in _all_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__:
                continue
            param = inspect.signature(fn).parameters.get("actor")
            if param is None:
                continue
            seen += 1
            if param.annotation not in ("Actor", Actor):
                offenders.append(f"{module.__name__}.{name}(actor: {param.annotation})")
    assert seen > 40  # the check reaches the services
    assert not offenders, "annotate actor: Actor (campuscard.core.actors):\n" + "\n".join(offenders)


@pytest.mark.parametrize("legacy", ["device:pos-1", None, object()])
def test_audit_record_refuses_anything_but_an_actor(legacy):
    with pytest.raises(TypeError):
        audit_record(actor=legacy, action="x", object_type="t", object_id="1")


@pytest.mark.django_db
def test_the_audit_row_stores_the_same_text_as_before(institution, make_operator):
    from campuscard.devices.models import Device

    operator = make_operator(institution, "card_center_operator")
    by_user = audit_record(actor=Actor.by_user(operator), action="x", object_type="t", object_id="1")
    assert (by_user.actor, by_user.actor_label, by_user.institution_id) == (operator, "", institution.pk)
    by_device = audit_record(actor=Actor.by_device(Device(code="pos-1")), action="x", object_type="t", object_id="1")
    assert (by_device.actor, by_device.actor_label) == (None, "device:pos-1")
    by_job = audit_record(actor=Actor.system("job:balance_move"), action="x", object_type="t", object_id="1")
    assert (by_job.actor, by_job.actor_label) == (None, "job:balance_move")


def test_an_actor_is_built_by_its_constructors():
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(ValueError):
        Actor.by_user(AnonymousUser())
    with pytest.raises(ValueError):
        Actor.system("")
    assert str(Actor.system("cli:graduate")) == "cli:graduate"
