"""The authorisation matrix (ARCHITECTURE rule 6): every protected call is tried as

* anonymous,
* a user with the wrong role,
* a user with the right role from the wrong institution (TEN-1),
* a user with the right role,

and each outcome is checked: the status code, an optional look at the response (e.g. "none of the
other institution's rows are listed"), and — for everyone who is refused — that the database
``snapshot()`` is exactly what it was before. The allowed call must change the snapshot when it is a
write (``writes=True``) and leave it alone when it is a read.

Usage::

    assert_authorization(
        lambda client: client.post(url, data),
        anonymous=Expect(ANONYMOUS, 302),
        wrong_role=Expect(Principal.session(merchant), 403),
        wrong_institution=Expect(Principal.session(other_operator), 302),
        allowed=Expect(Principal.session(operator), 302),
        snapshot=lambda: tuple(Person.objects.values_list("pk", "name")),
        writes=True,
    )
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass

from django.http import HttpResponse
from django.test import Client


@dataclass(frozen=True)
class Principal:
    """Who makes the request: nobody, a logged-in user (session) or an integration (bearer token)."""

    label: str
    user: object | None = None
    token: str | None = None

    @classmethod
    def session(cls, user) -> Principal:
        return cls(label=f"session:{user.username}", user=user)

    @classmethod
    def bearer(cls, token: str, user=None) -> Principal:
        return cls(label=f"token:{getattr(user, 'username', '?')}", user=user, token=token)

    def client(self) -> Client:
        if self.token is not None:
            # Real integrations send no CSRF token and no session cookie: enforce CSRF like production.
            return Client(enforce_csrf_checks=True, headers={"Authorization": f"Bearer {self.token}"})
        client = Client()
        if self.user is not None:
            client.force_login(self.user)
        return client


ANONYMOUS = Principal(label="anonymous")


@dataclass(frozen=True)
class Expect:
    who: Principal
    status: int | Collection[int]
    check: Callable[[HttpResponse], object] | None = None

    def statuses(self) -> Collection[int]:
        return (self.status,) if isinstance(self.status, int) else self.status


def assert_authorization(call: Callable[[Client], HttpResponse], *, anonymous: Expect, wrong_role: Expect,
                         wrong_institution: Expect, allowed: Expect, snapshot: Callable[[], Hashable],
                         writes: bool = False) -> dict[str, HttpResponse]:
    """Run ``call`` once per principal (a fresh client each time); return the responses by role."""
    responses: dict[str, HttpResponse] = {}
    before = snapshot()
    for name, expect in (("anonymous", anonymous), ("wrong role", wrong_role),
                         ("wrong institution", wrong_institution)):
        response = _run(call, name, expect)
        after = snapshot()
        assert after == before, f"{name} ({expect.who.label}) was refused but the data changed:\n{before}\n→ {after}"
        responses[name] = response
    responses["allowed"] = _run(call, "allowed", allowed)
    after = snapshot()
    if writes:
        assert after != before, f"the allowed call ({allowed.who.label}) changed nothing"
    else:
        assert after == before, f"a read ({allowed.who.label}) changed the data:\n{before}\n→ {after}"
    return responses


def _run(call, name: str, expect: Expect) -> HttpResponse:
    response = call(expect.who.client())
    assert response.status_code in expect.statuses(), (
        f"{name} ({expect.who.label}): expected {expect.status}, got {response.status_code}: "
        f"{response.content[:300]!r}")
    if expect.check is not None:
        expect.check(response)
    return response


# --- #18 item 5: the generated matrix (tests/security/test_authorization_matrix.py) ---------------------


@dataclass(frozen=True)
class Endpoint:
    """One thing the project answers: ``key`` is ``"METHOD /api/v1/path/{param}"`` for an API operation
    (from django-ninja's operations), else the URL name (``"portal:cards"``) or, unnamed, the pattern."""

    key: str
    route: str  # the Django route, e.g. "cards/<str:number>/lost/" (API: "/api/v1/cards/{number}/lost")
    methods: tuple[str, ...]
    api: bool = False


def _ninja_path_view(callback):
    from ninja.operation import PathView

    for cell in getattr(callback, "__closure__", None) or ():
        if isinstance(cell.cell_contents, PathView):
            return cell.cell_contents
    return None


def endpoints() -> list[Endpoint]:
    """Every endpoint, walked from Django's URL conf (``get_resolver()``); where a URL is django-ninja's,
    one endpoint per operation and method of its path view. Nothing is listed by hand."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: dict[str, Endpoint] = {}

    def walk(patterns, prefix: str, namespaces: tuple[str, ...]):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route, namespaces + ((pattern.namespace,) if pattern.namespace else ()))
                continue
            assert isinstance(pattern, URLPattern)
            view = _ninja_path_view(pattern.callback)
            if view is not None:
                for operation in view.operations:
                    path = _ninja_path("/" + route)
                    for method in operation.methods:
                        key = f"{method} {path}"
                        found[key] = Endpoint(key=key, route=path, methods=(method,), api=True)
                continue
            key = ":".join(namespaces + (pattern.name,)) if pattern.name else route
            found.setdefault(key, Endpoint(key=key, route=route, methods=("GET", "POST")))

    walk(get_resolver().url_patterns, "", ())
    return sorted(found.values(), key=lambda e: e.key)


def _ninja_path(path: str) -> str:
    import re

    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)


def db_writes() -> int:
    """Rows written so far on this connection (SQLite's total_changes(); PostgreSQL's counters of the
    current transaction): a refusal must not move it — or, where it does, ``db_fingerprint`` decides."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT total_changes()")
        else:
            cursor.execute("SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables")
        return int(cursor.fetchone()[0])


# What a refused request may touch without changing anything that matters: its own session, a device's
# nonce, when a login or token was last used.
VOLATILE_MODELS = {"sessions.Session", "devices.RequestNonce"}
VOLATILE_FIELDS = {"last_login", "last_used_at", "last_seen_at"}


def db_fingerprint() -> dict[str, int]:
    """Every model's rows (all concrete fields but the volatile ones), hashed per model."""
    from django.apps import apps

    prints = {}
    for model in apps.get_models():
        label = model._meta.label
        if label in VOLATILE_MODELS or not model._meta.managed or model._meta.proxy:
            continue
        fields = [f.attname for f in model._meta.concrete_fields if f.attname not in VOLATILE_FIELDS]
        # repr: JSON fields come back as dicts and lists, which do not hash
        prints[label] = hash(repr(list(model._base_manager.order_by("pk").values_list(*fields))))
    return prints
