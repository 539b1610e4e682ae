"""The card application (APP-1 … APP-5): eligibility, materials, phone code, package, submission,
review and activation. Keyword-only services taking an Actor, audited in the same transaction.

This module never imports the face-check modules (``face_checks``, ``faces``): they call
``application_checks_settled`` once the face check has written its result."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from campuscard.core.actors import Actor
from campuscard.core.audit import audit_record
from campuscard.enrollment import rules
from campuscard.enrollment.models import Application
from campuscard.support.models import Notification
from campuscard.support.services import notify

STATUS_LINK = "/apply/"
CHECKS_JOB = Actor.system("job:application_checks")


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


def application_checks_settled(*, application: Application, actor: Actor = CHECKS_JOB) -> Application:
    """The automatic checks are done (called from the worker once the face check wrote ``face_state``,
    ``face_distance`` and ``face_reason``): a ``checking`` application moves to ``review`` with
    ``checks_passed`` / ``checks_failed`` recorded, and the holder is told. Any other state: unchanged
    (a late or repeated call does nothing)."""
    with transaction.atomic():
        application = (Application.objects.select_for_update().select_related("person")
                       .get(pk=application.pk))
        if application.state != Application.State.CHECKING:
            return application
        failed = _failed_checks(application)
        application.checks_failed = failed
        application.checks_passed = not failed
        application.state = Application.State.REVIEW
        application.save(update_fields=["checks_failed", "checks_passed", "state", "updated_at"])
        audit_record(actor=actor, action="application_checked", obj=application,
                     institution_id=application.person.institution_id,
                     before={"state": Application.State.CHECKING},
                     after={"state": application.state, "checks_failed": failed,
                            "face_state": application.face_state, "face_distance": application.face_distance})
        if failed:
            body = _("Some automatic checks did not pass (%(checks)s). A Card Center operator will look at "
                     "your application; you can follow it in the portal.")
        else:
            body = _("All automatic checks passed. A Card Center operator will approve your application soon.")
        notify(person=application.person, kind=Notification.Kind.APPLICATION,
               title=_("Your card application is waiting for review"), body=body,
               params={"checks": ", ".join(failed)}, link=STATUS_LINK)
    return application
