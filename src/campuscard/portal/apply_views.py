"""Getting a card (APP-1 … APP-5): eligibility → materials and phone code → package and where to
collect → face-check consent → the face check (``portal:apply_face``) → submit → status. Presentation
only: every change is an ``enrollment.services`` call, every refusal its ``DomainError`` message."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campuscard.cards.models import PackageAddon
from campuscard.cards.policy import ADDONS, BASE_PACKAGE
from campuscard.cards.selectors import photo_status
from campuscard.core.actors import Actor
from campuscard.core.errors import DomainError
from campuscard.core.models import ServicePoint
from campuscard.enrollment import selectors, services
from campuscard.enrollment.models import Application
from campuscard.identity import selectors as identity_selectors
from campuscard.identity.documents import IdType
from campuscard.identity.throttle import client_address
from campuscard.portal.package_views import ADDON_HINTS, BASE_LABELS

ADDON_LABELS = dict(PackageAddon.Addon.choices)


def _person(request):
    person = identity_selectors.person_of_user(request.user)
    if person is None:
        raise Http404
    return person


def _open(person):
    application = selectors.application_of(person=person)
    if application is None or application.state not in Application.OPEN_STATES:
        return None
    return application


def _draft_or_status(request):
    """The open draft, or None after sending the holder back to the status page."""
    person = _person(request)
    application = _open(person)
    if application is None or application.state != Application.State.DRAFT:
        return person, None
    return person, application


def _client_address(request) -> str | None:
    return client_address(request) or None


def _run(request, fn, success: str = "", **kwargs):
    try:
        result = fn(actor=Actor.by_user(request.user), **kwargs)
    except DomainError as error:
        messages.error(request, error.message)
        return None
    if success:
        messages.success(request, success)
    return result


face_url = selectors.face_check_url


@login_required
def status(request):
    """Eligibility before an application; afterwards each step, what is missing and what to do."""
    person = _person(request)
    application = selectors.application_of(person=person)
    context = {"person": person, "application": application, "face_url": face_url()}
    if application is None or application.state not in Application.OPEN_STATES:
        context["refusal"] = selectors.eligibility_refusal(person=person)
        context["proof"] = selectors.status_proof_reference(person=person)
    if application is not None:
        context.update(steps=selectors.steps(application=application), missing=selectors.missing(application=application),
                       where=selectors.collect_where(application=application),
                       addons=[ADDON_LABELS[a] for a in sorted(selectors.chosen_package(application=application))],
                       documents=selectors.documents_of(application=application))
    template = "portal/_apply_status.html" if request.htmx else "portal/apply.html"
    return render(request, template, context)


@login_required
@require_POST
def start(request):
    person = _person(request)
    if _run(request, services.application_start, person=person) is not None:
        return redirect("portal:apply_materials")
    return redirect("portal:apply")


@login_required
def materials(request):
    person, application = _draft_or_status(request)
    if application is None:
        return redirect("portal:apply")
    if request.method == "POST":
        form = request.POST.get("form")
        if form == "id":
            _run(request, services.application_id_check, _("ID document confirmed."), application=application,
                 id_type=request.POST.get("id_type", ""), id_number=request.POST.get("id_number", ""))
        elif form == "proof":
            _run(request, services.application_status_proof_confirm, _("Proof of student status confirmed."),
                 application=application, reference=request.POST.get("reference", ""))
        elif form == "send":
            if _run(request, services.phone_code_send, application=application, phone=request.POST.get("phone", ""),
                    client_address=_client_address(request)) is not None:
                messages.success(request, _("A code was sent to your phone. It works for a few minutes."))
        elif form == "verify":
            _run(request, services.phone_code_verify, _("Mobile number verified."), application=application,
                 code=request.POST.get("code", ""), client_address=_client_address(request))
        elif form == "document" and request.FILES.get("file"):
            _run(request, services.document_upload, _("Document uploaded."), application=application,
                 kind=request.POST.get("kind", ""), upload=request.FILES["file"])
        return redirect("portal:apply_materials")
    application.refresh_from_db()
    uploaded = {d.kind: d for d in selectors.documents_of(application=application)}
    return render(request, "portal/apply_materials.html", {
        "person": person, "application": application, "id_types": IdType.choices,
        "proof": selectors.status_proof_reference(person=person),
        "documents": [(kind, label, uploaded.get(kind)) for kind, label in selectors.required_documents(person=person)],
        "missing": selectors.missing(application=application)})


@login_required
def package(request):
    person, application = _draft_or_status(request)
    if application is None:
        return redirect("portal:apply")
    if request.method == "POST":
        point_id = request.POST.get(f"point_{request.POST.get('collect', '')}") or ""
        point = ServicePoint.objects.filter(pk=int(point_id)).first() if point_id.isdigit() else None
        if _run(request, services.application_package_set, _("Package and collection place saved."),
                application=application, addons=request.POST.getlist("addons"),
                collect=request.POST.get("collect", ""), collect_point=point) is not None:
            return redirect("portal:apply_consent")
        return redirect("portal:apply_package")
    return render(request, "portal/apply_package.html", {
        "person": person, "application": application,
        "base": [BASE_LABELS[b] for b in BASE_PACKAGE], "addons": [(a, ADDON_LABELS[a], ADDON_HINTS[a], a in application.addons) for a in ADDONS],
        "kiosks": selectors.collect_points(person=person, collect=Application.Collect.KIOSK),
        "windows": selectors.collect_points(person=person, collect=Application.Collect.WINDOW),
        "photo": photo_status(person)})


@login_required
def consent(request):
    person, application = _draft_or_status(request)
    if application is None:
        return redirect("portal:apply")
    if request.method == "POST":
        if request.POST.get("agree") == "yes" and _run(request, services.application_consent_give,
                                                       application=application) is not None:
            return redirect(face_url() or "portal:apply")
        if request.POST.get("agree") != "yes":
            messages.error(request, _("Tick the box to agree, or withdraw the application."))
        return redirect("portal:apply_consent")
    return render(request, "portal/apply_consent.html", {"person": person, "application": application,
                                                         "face_url": face_url()})


@login_required
@require_POST
def submit(request):
    person, application = _draft_or_status(request)
    if application is not None:
        _run(request, services.application_submit, _("Application submitted."), application=application)
    return redirect("portal:apply")


@login_required
@require_POST
def withdraw(request):
    application = _open(_person(request))
    if application is not None:
        _run(request, services.application_withdraw, _("Application withdrawn."), application=application)
    return redirect("portal:apply")


@login_required
def document(request, pk: int):
    """An uploaded document, only to its holder or an operator entitled to see it; never a /media/ URL."""
    found = selectors.document_for(user=request.user, pk=pk)
    if found is None:
        raise Http404
    response = FileResponse(found.file.open("rb"), content_type=found.content_type)
    response["Content-Disposition"] = f'inline; filename="{found.kind}.{found.file.name.rsplit(".", 1)[-1]}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
