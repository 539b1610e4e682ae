"""The error-code registry (stable codes, status, translated message) and the clock seam (ARCHITECTURE rule 8)."""

import datetime as dt
import threading

import pytest
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campuscard.core import clock, errors
from campuscard.core.errors import REGISTRY, DomainError, register
from campuscard.core.models import Institution

UTC = dt.UTC
LANGUAGES = ["zh-hans", "en"]


def test_unregistered_code_is_a_programming_error():
    with pytest.raises(KeyError, match="no_such_code"):
        DomainError("no_such_code")


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_registered_code_has_an_error_status_and_a_lazy_message(code):
    spec = REGISTRY[code]
    assert 400 <= spec.status < 600
    assert isinstance(spec.message, Promise), "messages must be lazy so they render in the request's language"
    for language in LANGUAGES:
        with translation.override(language):
            assert str(spec.message).strip()


@pytest.mark.parametrize(("code", "status"), [
    ("validation_error", 422), ("not_authenticated", 401), ("forbidden", 403), ("not_found", 404),
    ("idempotency_key_required", 400), ("idempotency_key_reused", 409), ("rate_limited", 429),
    ("login_failed", 401), ("login_locked", 429), ("password_change_required", 403),
    ("roster_invalid", 422), ("payment_password_same_as_login", 400), ("password_same_as_payment", 400),
])
def test_platform_and_identity_codes_keep_their_status(code, status):
    """Codes and their statuses are a public contract (ARCHITECTURE: Errors and bad input)."""
    assert DomainError(code).status == status


@pytest.mark.parametrize("language", LANGUAGES)
def test_message_renders_in_the_active_language_with_its_parameters(language):
    error = DomainError("login_locked", minutes=17)
    with translation.override(language):
        message = error.message
        body = error.as_dict()
        text = str(error)
    assert "17" in message
    assert "%(" not in message
    assert body == {"code": "login_locked", "message": message}
    assert text == f"login_locked: {message}"
    assert error.code == "login_locked" and error.status == 429 and error.params == {"minutes": 17}


@pytest.mark.parametrize("language", LANGUAGES)
def test_message_is_rendered_when_shown_not_when_raised(language):
    """The same error object speaks the language active at render time."""
    error = DomainError("not_found")
    with translation.override(language):
        expected = str(REGISTRY["not_found"].message)
        assert error.message == expected


def test_english_messages_are_the_source_strings():
    with translation.override("en"):
        assert DomainError("forbidden").message == "You are not allowed to do this."
        assert DomainError("roster_invalid", count=3).message == "The roster has 3 bad rows; nothing was imported."


def test_details_are_included_only_when_given():
    assert "details" not in DomainError("validation_error").as_dict()
    body = DomainError("roster_invalid", count=1, details={"errors": [{"line": 2}]}).as_dict()
    assert body["details"] == {"errors": [{"line": 2}]}
    assert body["code"] == "roster_invalid"


def test_missing_parameter_falls_back_to_the_template_instead_of_crashing():
    error = DomainError("login_locked")  # no minutes given
    with translation.override("en"):
        assert error.message == str(REGISTRY["login_locked"].message)


def test_registering_a_code_twice_needs_the_same_meaning(monkeypatch):
    monkeypatch.setattr(errors, "REGISTRY", dict(REGISTRY))
    assert register("test_only_code", 418, _("Not found.")) == "test_only_code"
    assert register("test_only_code", 418, _("Not found.")) == "test_only_code"  # same meaning: fine
    assert DomainError("test_only_code").status == 418
    with pytest.raises(ValueError, match="registered twice"):
        register("test_only_code", 400, _("Not found."))
    with pytest.raises(ValueError, match="registered twice"):
        register("test_only_code", 418, _("Please log in first."))


def test_domain_error_is_an_exception_carrying_its_code():
    with pytest.raises(DomainError) as caught:
        raise DomainError("forbidden")
    assert caught.value.code == "forbidden"
    assert caught.value.args == ("forbidden",)


# --- clock ------------------------------------------------------------------------------------------


def test_frozen_at_fixes_now_and_restores_it():
    moment = dt.datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
    before = clock.now()
    with clock.frozen_at(moment):
        assert clock.now() == moment
        assert clock.now() == moment  # does not tick
    after = clock.now()
    assert after != moment
    assert before <= after
    assert after.tzinfo is not None


def test_frozen_at_nests_and_unwinds_on_error():
    outer = dt.datetime(2026, 1, 1, tzinfo=UTC)
    inner = dt.datetime(2027, 1, 1, tzinfo=UTC)
    with clock.frozen_at(outer):
        with pytest.raises(RuntimeError), clock.frozen_at(inner):
            assert clock.now() == inner
            raise RuntimeError("boom")
        assert clock.now() == outer
    assert clock.now() != outer


def test_frozen_at_refuses_naive_datetimes():
    """ARCHITECTURE rule 8: aware datetimes only."""
    with pytest.raises(ValueError), clock.frozen_at(dt.datetime(2026, 1, 1)):  # noqa: DTZ001
        pass  # pragma: no cover
    assert abs(clock.now() - timezone.now()) < dt.timedelta(seconds=5)  # nothing was left frozen


def test_frozen_time_is_seen_by_other_threads():
    moment = dt.datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
    seen = []
    with clock.frozen_at(moment):
        worker = threading.Thread(target=lambda: seen.append(clock.now()))
        worker.start()
        worker.join()
    assert seen == [moment]


SHANGHAI = Institution(code="sh", name="上海", time_zone="Asia/Shanghai")


@pytest.mark.parametrize(("utc", "local"), [
    (dt.datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC), dt.date(2026, 3, 1)),  # 23:59:59 in Shanghai
    (dt.datetime(2026, 3, 1, 16, 0, 0, tzinfo=UTC), dt.date(2026, 3, 2)),  # 00:00 in Shanghai
    (dt.datetime(2026, 3, 1, 23, 30, tzinfo=UTC), dt.date(2026, 3, 2)),  # UTC still on the 1st
    (dt.datetime(2026, 3, 2, 0, 30, tzinfo=UTC), dt.date(2026, 3, 2)),  # both on the 2nd
    (dt.datetime(2026, 12, 31, 16, 0, tzinfo=UTC), dt.date(2027, 1, 1)),  # new year arrives first in China
])
def test_local_date_follows_the_institution_time_zone_across_utc_midnight(utc, local):
    """ARCHITECTURE rule 8: the institution's time zone (Asia/Shanghai) decides "a day"."""
    assert clock.local_date(SHANGHAI, utc) == local
    with clock.frozen_at(utc):
        assert clock.local_date(SHANGHAI) == local
        assert clock.institution_now(SHANGHAI).date() == local
        assert clock.institution_now(SHANGHAI).utcoffset() == dt.timedelta(hours=8)
        assert clock.institution_now(SHANGHAI) == utc  # the same instant, only shown in local time


def test_local_date_uses_each_institutions_own_zone():
    london = Institution(code="ldn", name="London", time_zone="Europe/London")
    moment = dt.datetime(2026, 6, 30, 20, 0, tzinfo=UTC)  # 04:00 on 1 July in Shanghai, 21:00 in London
    assert clock.local_date(SHANGHAI, moment) == dt.date(2026, 7, 1)
    assert clock.local_date(london, moment) == dt.date(2026, 6, 30)


def test_local_date_accepts_aware_moments_in_any_zone():
    moment = dt.datetime(2026, 3, 2, 0, 30, tzinfo=clock.zone("Asia/Shanghai"))
    assert clock.local_date(SHANGHAI, moment) == dt.date(2026, 3, 2)
    assert clock.local_date(SHANGHAI, moment.astimezone(UTC)) == dt.date(2026, 3, 2)


def test_env_choices_parse_and_refuse_typos(monkeypatch):
    from campuscard.env import ConfigError, env_choices

    levels, modes = {"teaching", "laboratory"}, {"refuse", "last_known"}
    monkeypatch.setenv("X_POLICY", "teaching=refuse, laboratory = last_known")
    assert env_choices("X_POLICY", levels, modes) == {"teaching": "refuse", "laboratory": "last_known"}
    monkeypatch.setenv("X_POLICY", "laboratory=refuse_all")  # a typo must not leave the labs open
    with pytest.raises(ConfigError):
        env_choices("X_POLICY", levels, modes)
    monkeypatch.delenv("X_POLICY")
    assert env_choices("X_POLICY", levels, modes) == {}


@pytest.mark.django_db
def test_places_are_named_in_the_readers_language(institution):
    """#17: the pickup place read 学苑餐厅 in the English interface too."""
    from campuscard.core.models import Area, ServicePoint

    area = Area.objects.get(campus__institution=institution, code="area1")
    point = ServicePoint(area=area, code="k1", kind=ServicePoint.Kind.KIOSK, name="学苑餐厅自助机",
                         name_en="Xueyuan Restaurant kiosk")
    with translation.override("en"):
        assert str(point) == "Xueyuan Restaurant kiosk"
        assert str(area) == "Main Campus · Area 1"
    with translation.override("zh-hans"):
        assert str(point) == point.name and str(area) == "主校区 · 一区"
    point.name_en = ""
    with translation.override("en"):
        assert str(point) == point.name  # no English name: the one there is
