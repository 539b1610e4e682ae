"""Builders for the card-application tests: applicants from the registrar roster, collection places,
an application carried to review the way the portal does it (the face check's result written as the
face worker writes it)."""

from __future__ import annotations

import io

from PIL import Image

from campuscard.cards.models import Photo
from campuscard.core import clock
from campuscard.core.actors import Actor
from campuscard.core.models import Area, ServicePoint
from campuscard.enrollment import selectors, services, sms
from campuscard.enrollment.models import Application
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person, User
from tests.helpers import resident_id

ADDRESS = "10.0.0.7"


def applicant(institution, serial: int = 1, *, kind: str = Person.Kind.UNDERGRADUATE,
              status: str = Person.Status.FULL_TIME, source: str = Person.Source.REGISTRAR,
              id_type: str = IdType.RESIDENT, id_number: str | None = None, department: str = "计算机学院") -> Person:
    """A person of the roster with a portal account (as after their first login)."""
    number = f"2026{serial:06d}"
    user = User.objects.create_user(username=f"{institution.code}:{number}", password="Applicant-pass-1",
                                    institution=institution)
    return Person.objects.create(
        institution=institution, number=number, name=f"新生{serial}", kind=kind, status=status, source=source,
        id_type=id_type, id_number=id_number or resident_id(serial), campus=institution.campuses.get(code="main"),
        department=department, enrollment_year=2026, user=user)


def places(institution) -> dict[str, ServicePoint]:
    """A kiosk on the holder's campus, one on another campus, and the Card Center window."""
    area = Area.objects.filter(campus__institution=institution).first()
    other_campus = institution.campuses.create(code="east", name="东校区", name_en="East Campus")
    other_area = Area.objects.create(campus=other_campus, code="east1", name="东一区", name_en="East 1")
    return {
        "kiosk": ServicePoint.objects.create(area=area, code="k1", kind=ServicePoint.Kind.KIOSK, name="图书馆自助机",
                                             location="图书馆一楼"),
        "far_kiosk": ServicePoint.objects.create(area=other_area, code="k2", kind=ServicePoint.Kind.KIOSK,
                                                 name="东区自助机"),
        "window": ServicePoint.objects.create(area=area, code="w1", kind=ServicePoint.Kind.WINDOW,
                                              name="一卡通服务中心", location="行政楼101", hours="8:30-17:00"),
    }


def jpeg(size: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 180, 160)).save(buffer, "JPEG")
    data = buffer.getvalue()
    return data + b"\0" * max(0, size - len(data))


def last_code(phone: str) -> str:
    """The code the console provider 'sent' to ``phone``."""
    text = next(text for to, text in reversed(sms.OUTBOX) if to == phone)
    return next(word for word in text.replace(",", " ").replace("，", " ").split() if word.isdigit() and len(word) == 6)


def photo(person: Person, state: str = Photo.State.PENDING) -> Photo:
    from django.core.files.base import ContentFile

    item = Photo(person=person, state=state, uploaded_at=clock.now())
    item.image.save(f"{person.number}.jpg", ContentFile(jpeg()), save=False)
    item.save()
    return item


def filled(person: Person, point: ServicePoint, *, phone: str = "", face: str = "passed",
           addons=("laundry",), upload_documents: bool = True) -> Application:
    """A draft with every material, as the portal pages leave it; the face result as the worker writes it."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    actor = Actor.by_user(person.user)
    phone = phone or f"138{person.number[-8:]}"
    application = services.application_start(actor=actor, person=person)
    services.application_id_check(actor=actor, application=application, id_type=person.id_type,
                                  id_number=person.id_number)
    services.application_status_proof_confirm(actor=actor, application=application,
                                              reference=selectors.status_proof_reference(person=person))
    services.phone_code_send(actor=actor, application=application, phone=phone, client_address=ADDRESS)
    services.phone_code_verify(actor=actor, application=application, code=last_code(phone), client_address=ADDRESS)
    if upload_documents:
        for kind, _label in selectors.required_documents(person=person):
            services.document_upload(actor=actor, application=application, kind=kind,
                                     upload=SimpleUploadedFile(f"{kind}.jpg", jpeg(), "image/jpeg"))
    if not Photo.objects.filter(person=person).exists():
        photo(person)
    services.application_package_set(actor=actor, application=application, addons=list(addons),
                                     collect=point.kind, collect_point=point)
    services.application_consent_give(actor=actor, application=application)
    Application.objects.filter(pk=application.pk).update(face_state=face, face_distance=0.38)
    application.refresh_from_db()
    return application


def in_review(person: Person, point: ServicePoint, **kwargs) -> Application:
    application = filled(person, point, **kwargs)
    return services.application_submit(actor=Actor.by_user(person.user), application=application)
