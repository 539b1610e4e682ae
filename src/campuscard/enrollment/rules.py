"""The card application's rules (APP-1, APP-2, APP-5) as pure functions over plain values.

Nothing here touches the database, settings or the clock: services and selectors gather the facts
and call these, so the portal, the API, the worker and the back office decide alike."""

from __future__ import annotations

from collections.abc import Iterable

# Person kinds / statuses / sources (identity.models.Person values, repeated so this module needs no Django).
STUDENT_KINDS = frozenset({"undergraduate", "graduate", "exchange"})
STAFF_KINDS = frozenset({"staff"})
ELIGIBLE_STATUS = "full_time"
REGISTRAR_SOURCE = "registrar"
# identity.documents.SPECIAL_CERTIFICATES: HK/Macau/Taiwan and international students show a permit or passport.
SPECIAL_ID_TYPES = frozenset({"passport", "hkmo_permit", "tw_permit"})
# Document kinds (enrollment.models.Document.Kind values).
PERMIT, ACCOMMODATION, ISSC_LETTER = "permit", "accommodation", "issc_letter"
EXTRA_DOCUMENTS = (PERMIT, ACCOMMODATION, ISSC_LETTER)
# The automatic checks, in the order the holder meets them; each failure is named by its code.
CHECKS = ("phone", "id_document", "status_proof", "documents", "face")


def eligibility(*, kind: str, status: str, source: str) -> str:
    """'' when the person may apply in the portal, else the refusal's error code (APP-1).

    ``application_not_eligible_staff``: staff get their card through the HR path (the Card Center).
    ``application_not_eligible``: anyone else — not a student, not full-time and registered, or not on
    the registrar's roster."""
    if kind in STAFF_KINDS:
        return "application_not_eligible_staff"
    if kind not in STUDENT_KINDS or status != ELIGIBLE_STATUS or source != REGISTRAR_SOURCE:
        return "application_not_eligible"
    return ""


def ineligibility_reason(*, kind: str, status: str, source: str) -> str:
    """Which of the three conditions failed: 'kind', 'status' or 'source' ('' when eligible)."""
    if kind not in STUDENT_KINDS:
        return "kind"
    if status != ELIGIBLE_STATUS:
        return "status"
    if source != REGISTRAR_SOURCE:
        return "source"
    return ""


def required_documents(*, id_type: str) -> tuple[str, ...]:
    """The extra documents an applicant uploads (APP-2): none for a mainland resident ID; the permit,
    the temporary-accommodation registration and the ISSC letter for HK/Macau/Taiwan and international
    students (by the roster's ID type)."""
    return EXTRA_DOCUMENTS if id_type in SPECIAL_ID_TYPES else ()


def missing_documents(*, id_type: str, uploaded: Iterable[str]) -> tuple[str, ...]:
    have = set(uploaded)
    return tuple(kind for kind in required_documents(id_type=id_type) if kind not in have)


def failed_checks(*, phone_verified: bool, id_checked: bool, status_proof: bool, documents_missing: bool,
                  face_passed: bool) -> list[str]:
    """The automatic checks that did not pass (APP-5: an application with none may be approved in bulk)."""
    passed = {"phone": phone_verified, "id_document": id_checked, "status_proof": status_proof,
              "documents": not documents_missing, "face": face_passed}
    return [check for check in CHECKS if not passed[check]]
