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
