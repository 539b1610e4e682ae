"""The demo's face data (APP-3, ID-7): a registrar photo for the new undergraduate, a face terminal."""

import dlib  # noqa: F401  (unconditional: no skip without the engine)

from campuscard.demo.data import DemoLogin
from campuscard.demo.face_demo import face_demo
from campuscard.devices.models import Device
from campuscard.enrollment.models import RegistrarPhoto
from campuscard.identity.documents import IdType
from campuscard.identity.models import Person
from tests.helpers import resident_id


def test_face_demo_gives_the_new_intake_a_registrar_photo_and_a_face_terminal(institution):
    Person.objects.create(institution=institution, number="2026NEW001", name="陈思远",
                          kind=Person.Kind.UNDERGRADUATE, status=Person.Status.FULL_TIME,
                          source=Person.Source.REGISTRAR, id_type=IdType.RESIDENT, id_number=resident_id(1),
                          campus=institution.campuses.first())
    logins = face_demo(institution, 7, DemoLogin)
    again = face_demo(institution, 7, DemoLogin)  # re-runnable
    photo = RegistrarPhoto.objects.get(person__number="2026NEW001")
    assert photo.embedding is not None and RegistrarPhoto.objects.count() == 1
    device = Device.objects.get(kind=Device.Kind.FACE, institution=institution)
    assert logins == again and logins[0].login == device.code and logins[0].password == device.secret
