"""The card application (APP-1 … APP-5): eligibility, materials, phone code, package, submission,
review and activation. Keyword-only services taking an Actor, audited in the same transaction.

This module never imports the face-check modules (``face_checks``, ``faces``): they call
``application_checks_settled`` once the face check has written its result."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from campuscard.cards import services as cards
from campuscard.cards.models import Photo
from campuscard.cards.policy import ADDONS
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.core.permissions import authorize
from campuscard.enrollment import rules, selectors, sms
from campuscard.enrollment.models import Application, Document, FaceAttempt, PhoneCode
from campuscard.identity import documents, throttle
from campuscard.identity.models import Person
from campuscard.identity.selectors import acting_user
from campuscard.support.models import Notification
from campuscard.support.services import notify

STATUS_LINK = "/apply/"
CHECKS_JOB = Actor.system("job:application_checks")
State = Application.State
_PHONE = re.compile(r"^1[3-9]\d{9}$")
# Buckets of the one throttle (identity.throttle).
SEND_NUMBER_GAP, SEND_NUMBER_HOUR, SEND_ADDRESS_HOUR, GUESS_ADDRESS = (
    "sms_send_gap", "sms_send_number", "sms_send_address", "sms_guess_address")
HOUR = 3600


# --- helpers ---------------------------------------------------------------------------------------

def _locked(application: Application) -> Application:
    # person__user: the notification reads the holder's language from it (one statement fewer, #16)
    return (Application.objects.select_for_update(of=("self",))
            .select_related("person__institution", "person__campus", "person__user").get(pk=application.pk))


def _draft(application: Application) -> Application:
    """The application, locked, while the holder may still change it."""
    application = _locked(application)
    if application.state != State.DRAFT:
        raise DomainError("application_state_invalid", state=application.get_state_display())
    return application


def _audit(actor: Actor, action: str, application: Application, **after) -> None:
    audit_record(actor=actor, action=action, obj=application, institution_id=application.person.institution_id,
                 after=after or None)


def _tell(application: Application, title, body="", **params) -> None:
    notify(person=application.person, kind=Notification.Kind.APPLICATION, title=title, body=body, params=params,
           link=STATUS_LINK)


def _mask(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) >= 7 else "****"


def _code_hash(phone: str, code: str) -> str:
    """Keyed (HMAC-SHA256 under SECRET_KEY and the number): a leaked table does not give the codes."""
    key = hashlib.sha256(f"sms-code:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _failed_checks(application: Application) -> list[str]:
    uploaded = application.documents.values_list("kind", flat=True)
    missing = rules.missing_documents(id_type=application.person.id_type, uploaded=uploaded)
    return rules.failed_checks(
        phone_verified=application.phone_verified_at is not None,
        id_checked=application.id_checked_at is not None,
        status_proof=bool(application.status_proof),
        documents_missing=bool(missing),
        face_passed=application.face_state == Application.FaceState.PASSED,
    )


def _forget_frames(application: Application) -> None:
    """PIPL: the liveness frames go once the application is decided (or withdrawn)."""
    FaceAttempt.objects.filter(application=application).update(frames=None)


# --- APP-1: starting ---------------------------------------------------------------------------------

def application_start(*, actor: Actor, person: Person) -> Application:
    """The person's open application, or a new draft if they may apply (APP-1). Refuses staff (HR path),
    anyone not a full-time registered student, and a holder of an active card of that kind."""
    selectors.ensure_eligible(person=person)
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).values_list("pk").first()
        application = Application.objects.filter(person=person, state__in=Application.OPEN_STATES).first()
        if application is not None:
            return application
        application = Application.objects.create(person=person)
        _audit(actor, "application_started", application)
    return application


# --- APP-2: materials ------------------------------------------------------------------------------

def application_id_check(*, actor: Actor, application: Application, id_type: str, id_number: str) -> Application:
    """The ID document the applicant holds must be the one on the roster (type and number)."""
    try:
        number = documents.validate_document(id_type, id_number)
    except ValueError as exc:
        raise DomainError("application_id_invalid", reason=str(exc))
    with transaction.atomic():
        application = _draft(application)
        person = application.person
        if id_type != person.id_type or number != documents.normalise(person.id_type, person.id_number):
            raise DomainError("application_id_mismatch")
        application.id_checked_at = clock.now()
        application.save(update_fields=["id_checked_at", "updated_at"])
        _audit(actor, "application_id_checked", application, id_type=id_type)
    return application


def application_status_proof_confirm(*, actor: Actor, application: Application, reference: str) -> Application:
    """The applicant confirms the registrar's electronic proof of student status the portal showed."""
    with transaction.atomic():
        application = _draft(application)
        expected = selectors.status_proof_reference(person=application.person)
        if not expected:
            raise DomainError("application_status_proof_missing")
        if reference.strip() != expected:
            raise DomainError("application_status_proof_mismatch")
        application.status_proof = expected
        application.save(update_fields=["status_proof", "updated_at"])
        _audit(actor, "application_status_proof_confirmed", application, reference=expected)
    return application


def phone_code_send(*, actor: Actor, application: Application, phone: str, client_address: str | None) -> PhoneCode:
    """Send a one-time code to a mainland mobile number (APP-2). At most one per number every
    SMS_RESEND_SECONDS, SMS_MAX_PER_HOUR per number and SMS_ADDRESS_MAX_PER_HOUR per client address;
    only the code's keyed hash is stored; a new code replaces the number's earlier ones."""
    phone = re.sub(r"[\s-]", "", phone or "").removeprefix("+86")
    if not _PHONE.match(phone):
        raise DomainError("phone_invalid")
    address = client_address or "unknown"
    gap = throttle.bucket_wait(SEND_NUMBER_GAP, phone, limit=1, window=settings.SMS_RESEND_SECONDS)
    if gap:
        raise DomainError("phone_code_too_soon", seconds=gap)
    waits = [throttle.bucket_wait(SEND_NUMBER_HOUR, phone, limit=settings.SMS_MAX_PER_HOUR, window=HOUR),
             throttle.bucket_wait(SEND_ADDRESS_HOUR, address, limit=settings.SMS_ADDRESS_MAX_PER_HOUR, window=HOUR)]
    if any(waits):
        raise DomainError("phone_code_too_many", minutes=-(-max(waits) // 60))
    code = f"{secrets.randbelow(10**6):06d}"
    now = clock.now()
    with transaction.atomic():
        application = _draft(application)
        institution_id = application.person.institution_id
        PhoneCode.objects.filter(institution_id=institution_id, phone=phone, used_at=None).update(used_at=now)
        sent = PhoneCode.objects.create(
            institution_id=institution_id, phone=phone, code_hash=_code_hash(phone, code),
            client_address=client_address or None, sent_at=now,
            expires_at=now + dt.timedelta(seconds=settings.SMS_CODE_TTL_SECONDS))
        application.phone, application.phone_verified_at = phone, None
        application.save(update_fields=["phone", "phone_verified_at", "updated_at"])
        _audit(actor, "application_phone_code_sent", application, phone=_mask(phone))
        # Counted before the send: a failing gateway must not become a way round the limits.
        throttle.bucket_hit(SEND_NUMBER_GAP, phone, window=settings.SMS_RESEND_SECONDS)
        throttle.bucket_hit(SEND_NUMBER_HOUR, phone, window=HOUR)
        throttle.bucket_hit(SEND_ADDRESS_HOUR, address, window=HOUR)
        minutes = max(1, settings.SMS_CODE_TTL_SECONDS // 60)
        text = str(_("[CampusCard] Your verification code is %(code)s, valid for %(minutes)s minutes. "
                     "Do not tell anyone.") % {"code": code, "minutes": minutes})
        try:
            sms.provider().send(phone=phone, text=text)
        except sms.SmsError:
            raise DomainError("phone_sms_failed")
    return sent


def phone_code_verify(*, actor: Actor, application: Application, code: str,
                      client_address: str | None) -> Application:
    """Check the code sent to the application's number. A wrong code counts against the code (dead after
    SMS_CODE_MAX_WRONG) and against the client address (locked after SMS_ADDRESS_MAX_WRONG an hour)."""
    address = client_address or "unknown"
    wait = throttle.bucket_wait(GUESS_ADDRESS, address, limit=settings.SMS_ADDRESS_MAX_WRONG, window=HOUR)
    if wait:
        raise DomainError("phone_code_locked", minutes=-(-wait // 60))
    refusal: DomainError | None = None
    with transaction.atomic():
        application = _draft(application)
        sent = (PhoneCode.objects.select_for_update()
                .filter(institution_id=application.person.institution_id, phone=application.phone, used_at=None)
                .order_by("-sent_at").first()) if application.phone else None
        now = clock.now()
        if sent is None or sent.expires_at <= now:
            raise DomainError("phone_code_expired")
        if sent.attempts >= settings.SMS_CODE_MAX_WRONG:
            raise DomainError("phone_code_dead")
        if not hmac.compare_digest(sent.code_hash, _code_hash(sent.phone, (code or "").strip())):
            # Kept (the transaction commits): the refusal is raised after it.
            PhoneCode.objects.filter(pk=sent.pk).update(attempts=F("attempts") + 1)
            left = settings.SMS_CODE_MAX_WRONG - sent.attempts - 1
            refusal = (DomainError("phone_code_dead") if left <= 0
                             else DomainError("phone_code_wrong", left=left))
            _audit(actor, "application_phone_code_wrong", application, phone=_mask(sent.phone), left=max(left, 0))
        else:
            sent.used_at = now
            sent.save(update_fields=["used_at"])
            application.phone_verified_at = now
            application.save(update_fields=["phone_verified_at", "updated_at"])
            _audit(actor, "application_phone_verified", application, phone=_mask(sent.phone))
    if refusal is not None:
        throttle.bucket_hit(GUESS_ADDRESS, address, window=HOUR, limit=settings.SMS_ADDRESS_MAX_WRONG, hold=True)
        raise refusal
    return application


_SIGNATURES = ((b"\xff\xd8\xff", "image/jpeg", "jpg"), (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
               (b"%PDF-", "application/pdf", "pdf"))


def sniff_document(*, head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's first bytes, never from its name; None if not allowed."""
    return next(((kind, ext) for magic, kind, ext in _SIGNATURES if head.startswith(magic)), None)


def _file_remover(document: Document):
    name, storage = document.file.name, document.file.storage
    return lambda: storage.delete(name)


def document_upload(*, actor: Actor, application: Application, kind: str, upload) -> Document:
    """An extra document (APP-2) for HK/Macau/Taiwan and international students: JPEG, PNG or PDF by
    content, at most APPLICATION_DOCUMENT_MAX_BYTES; a new upload of a kind replaces the old one."""
    limit = settings.APPLICATION_DOCUMENT_MAX_BYTES
    size = getattr(upload, "size", None) or 0
    if size > limit:
        raise DomainError("document_too_large", limit=limit // (1024 * 1024))
    data = upload.read(limit + 1)
    if not data:
        raise DomainError("document_empty")
    if len(data) > limit:
        raise DomainError("document_too_large", limit=limit // (1024 * 1024))
    sniffed = sniff_document(head=data[:16])
    if sniffed is None:
        raise DomainError("document_type_invalid")
    content_type, extension = sniffed
    with transaction.atomic():
        application = _draft(application)
        if kind not in rules.required_documents(id_type=application.person.id_type):
            raise DomainError("document_kind_invalid")
        old = list(Document.objects.filter(application=application, kind=kind))
        document = Document(application=application, kind=kind, content_type=content_type, size=len(data),
                            uploaded_at=clock.now())
        document.file.save(f"{application.pk}-{kind}-{secrets.token_hex(8)}.{extension}", ContentFile(data),
                           save=False)
        document.save()
        for previous in old:
            previous.delete()
            transaction.on_commit(_file_remover(previous))
        _audit(actor, "application_document_uploaded", application, kind=kind, content_type=content_type,
               size=len(data))
    return document


# --- APP-4: the package and where to collect the card -----------------------------------------------

def application_package_set(*, actor: Actor, application: Application, addons: Iterable[str], collect: str,
                            collect_point: ServicePoint | None = None) -> Application:
    """The add-ons (the base package is always included) and the one place to collect the physical
    card: a kiosk of the holder's campus, a Card Center window of their institution, or their unit."""
    if isinstance(addons, str):
        addons = [addons]
    chosen = sorted(set(addons))
    unknown = [addon for addon in chosen if addon not in ADDONS]
    if unknown:
        raise DomainError("application_addon_unknown", addon=", ".join(unknown))
    with transaction.atomic():
        application = _draft(application)
        person = application.person
        point = None
        if collect == Application.Collect.UNIT:
            if not person.department:
                raise DomainError("application_collect_invalid", reason=_("the roster names no unit for you"))
        elif collect in (Application.Collect.KIOSK, Application.Collect.WINDOW):
            choices = selectors.collect_points(person=person, collect=collect)
            point = next((p for p in choices if collect_point is not None and p.pk == collect_point.pk), None)
            if point is None:
                raise DomainError("application_collect_invalid",
                                  reason=_("choose one of the places offered for your campus"))
        else:
            raise DomainError("application_collect_invalid", reason=_("unknown choice"))
        application.addons, application.collect, application.collect_point = chosen, collect, point
        application.save(update_fields=["addons", "collect", "collect_point", "updated_at"])
        _audit(actor, "application_package_set", application, addons=chosen, collect=collect,
               collect_point=point.pk if point else None)
    return application


def application_consent_give(*, actor: Actor, application: Application) -> Application:
    """The separate consent to the face check (biometric data, PIPL art. 29)."""
    with transaction.atomic():
        application = _draft(application)
        if application.biometric_consent_at is None:
            application.biometric_consent_at = clock.now()
            application.save(update_fields=["biometric_consent_at", "updated_at"])
            _audit(actor, "application_biometric_consent", application)
    return application


# --- the flow ----------------------------------------------------------------------------------------

def application_submit(*, actor: Actor, application: Application) -> Application:
    """Draft → checking. Everything the holder provides must be there (``selectors.missing``); if the
    face check has already finished, the automatic checks settle at once (→ review); while it still
    runs in the worker, the face check settles them when it is done."""
    with transaction.atomic():
        application = _draft(application)
        missing = selectors.missing(application=application)
        if missing:
            raise DomainError("application_incomplete", missing=", ".join(str(m.label) for m in missing),
                              details=[m.code for m in missing])
        application.state, application.submitted_at = State.CHECKING, clock.now()
        application.save(update_fields=["state", "submitted_at", "updated_at"])
        _audit(actor, "application_submitted", application)
        _tell(application, _("Your card application was submitted"),
              _("We are checking your materials. You can follow each step in the portal."))
    if application.face_state != Application.FaceState.CHECKING:
        application = application_checks_settled(application=application)
    return application


def application_checks_settled(*, application: Application, actor: Actor = CHECKS_JOB) -> Application:
    """The automatic checks are done (called from the worker once the face check wrote ``face_state``,
    ``face_distance`` and ``face_reason``): a ``checking`` application moves to ``review`` with
    ``checks_passed`` / ``checks_failed`` recorded, and the holder is told. Any other state: unchanged
    (a late or repeated call does nothing)."""
    with transaction.atomic():
        application = _locked(application)
        if application.state != State.CHECKING or application.face_state == Application.FaceState.CHECKING:
            return application
        failed = _failed_checks(application)
        application.checks_failed = failed
        application.checks_passed = not failed
        application.state = State.REVIEW
        application.save(update_fields=["checks_failed", "checks_passed", "state", "updated_at"])
        audit_record(actor=actor, action="application_checked", obj=application,
                     institution_id=application.person.institution_id,
                     before={"state": State.CHECKING},
                     after={"state": application.state, "checks_failed": failed,
                            "face_state": application.face_state, "face_distance": application.face_distance})
        if failed:
            body = _("Some automatic checks did not pass (%(checks)s). A Card Center operator will look at "
                     "your application; you can follow it in the portal.")
        else:
            body = _("All automatic checks passed. A Card Center operator will approve your application soon.")
        _tell(application, _("Your card application is waiting for review"), body,
              checks=", ".join(str(selectors.CHECK_LABELS[c]) for c in failed))
    return application


def application_withdraw(*, actor: Actor, application: Application) -> Application:
    """The holder takes an open application back; its liveness frames are deleted."""
    with transaction.atomic():
        application = _locked(application)
        if application.state not in Application.OPEN_STATES:
            raise DomainError("application_state_invalid", state=application.get_state_display())
        before = application.state
        application.state, application.decided_at = State.WITHDRAWN, clock.now()
        application.save(update_fields=["state", "decided_at", "updated_at"])
        _forget_frames(application)
        audit_record(actor=actor, action="application_withdrawn", obj=application,
                     institution_id=application.person.institution_id, before={"state": before},
                     after={"state": application.state})
    return application


# --- APP-5: review and activation --------------------------------------------------------------------

def _decide(actor: Actor, application: Application, state: str, reason: str = "") -> None:
    before = application.state
    application.state, application.decided_at, application.reason = state, clock.now(), reason
    application.decided_by = acting_user(actor)
    application.save(update_fields=["state", "decided_at", "decided_by", "reason", "card", "updated_at"])
    _forget_frames(application)
    audit_record(actor=actor, action=f"application_{state}", obj=application,
                 institution_id=application.person.institution_id, before={"state": before},
                 after={"state": state, "reason": reason, "card": application.card.number if application.card else None})


def application_approve(*, actor: Actor, application: Application) -> Application:
    """Approve (APP-5), in one transaction: the card is issued active (the virtual card is in "My cards"
    at once) with the physical card in production to be collected at the holder's one chosen place, the
    add-ons are applied, the holder's pending certificate photo is approved with it, the liveness
    frames are deleted and the holder is told. Approving an approved application changes nothing."""
    authorize(actor.user, "enrollment.change_application", application.person.institution_id)
    with transaction.atomic():
        application = _locked(application)
        if application.state == State.APPROVED:
            return application
        if application.state != State.REVIEW:
            raise DomainError("application_state_invalid", state=application.get_state_display())
        person = application.person
        pending = Photo.objects.filter(person=person, state=Photo.State.PENDING).order_by("-uploaded_at").first()
        if pending is not None and not Photo.objects.filter(person=person, state=Photo.State.APPROVED).exists():
            cards.photo_review(actor=actor, photo=pending, approve=True)
        unit = person.department if application.collect == Application.Collect.UNIT else ""
        card = cards.card_issue(actor=actor, person=person, physical=True, collect_point=application.collect_point,
                                collect_unit=unit)
        cards.package_addons_set(actor=actor, person=person, addons=application.addons)
        application.card = card
        _decide(actor, application, State.APPROVED)
        production = card.production
        _tell(application, _("Your campus card is active"),
              _("Card %(number)s is in My cards now: you can pay and open doors with your phone. The physical "
                "card will be ready by %(due)s at %(where)s; we will tell you when it is there."),
              number=card.number, due=production.due_date.isoformat(), where=selectors.collect_where(
                  application=application))
    return application


def application_reject(*, actor: Actor, application: Application, reason: str) -> Application:
    """Reject with a reason the holder reads; they may start a new application."""
    authorize(actor.user, "enrollment.change_application", application.person.institution_id)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("application_reason_required")
    with transaction.atomic():
        application = _locked(application)
        if application.state != State.REVIEW:
            raise DomainError("application_state_invalid", state=application.get_state_display())
        _decide(actor, application, State.REJECTED, reason[:200])
        _tell(application, _("Your card application was not approved"),
              _("Reason: %(reason)s. You can correct this and apply again in the portal."), reason=reason[:200])
    return application


def applications_approve_passed(*, actor: Actor, applications: Iterable[Application]) -> tuple[
        list[Application], list[tuple[Application, DomainError]]]:
    """Bulk approval (APP-5): only applications in review whose automatic checks all passed; each in
    its own transaction, so one refusal does not undo the others. Returns (approved, refused)."""
    approved: list[Application] = []
    refused: list[tuple[Application, DomainError]] = []
    for application in applications:
        try:
            if application.state == State.REVIEW and not application.checks_passed:
                raise DomainError("application_not_all_checks_passed")
            approved.append(application_approve(actor=actor, application=application))
        except DomainError as error:
            refused.append((application, error))
    return approved, refused

