"""Log in with institution + student/staff number (ID-3), or with a username (operators)."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password
from django.utils.crypto import constant_time_compare

from campuscard.identity import throttle
from campuscard.identity.documents import initial_secret
from campuscard.identity.models import Person, User


def account_key(username: str, institution: str | None) -> str:
    return f"{institution}:{username}" if institution else username


class InstitutionNumberBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, institution=None, **kwargs):
        if not username or password is None:
            return None
        account, address = account_key(username, institution), throttle.client_address(request)
        if throttle.locked_for_minutes(account, address):
            return None
        user = (self._holder(institution, username, password) if institution
                else super().authenticate(request, username=username, password=password, **kwargs))
        if user is None:
            throttle.record_failure(account, address)
        else:
            throttle.clear(account, address)
        return user

    def _holder(self, institution: str, number: str, password: str) -> User | None:
        person = (Person.objects.select_related("user", "institution")
                  .filter(institution__code=institution, number=number.strip()).first())
        if person is None:
            make_password(password)  # same work as a real check, so timing does not reveal numbers
            return None
        user = person.user
        if user is None or not user.has_usable_password():
            # ID-3: until the first change the password is the last six of the ID number.
            if not constant_time_compare(password, initial_secret(person.id_number)):
                return None
            from campuscard.identity.services import holder_user_ensure

            user = holder_user_ensure(person=person)
            return user if self.user_can_authenticate(user) else None  # a deactivated login stays out
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
