"""The demo's help: where each campus's service points and buildings sit on its drawn plan, what each point
can do (SUP-3), the Card Center's numbers per campus (seed FAQ §9), and the assistant's starting knowledge
base (SUP-1). Re-runnable: it only sets values."""

from __future__ import annotations

from campuscard.assistant.models import Question
from campuscard.assistant.services import ask, knowledge_base_seed
from campuscard.core.models import Area, Building, Campus, Institution, ServicePoint

# area code: (x, y, width, height) on a 100 × 70 plan of its campus
AREAS = {
    "hdut": {"area1": (4, 6, 44, 30), "area2": (52, 6, 44, 30), "science-park": (4, 40, 44, 26),
             "civil": (52, 40, 44, 26), "center": (10, 10, 80, 50)},
    "lcdc": {"east-core": (8, 8, 84, 54), "west-core": (8, 8, 84, 54)},
}
# building or service point code: (x, y)
PLACES = {
    "hdut": {"hall": (14, 18), "xueyuan": (34, 14), "zhengxin": (26, 28), "library": (40, 28), "dorm-a01": (10, 30),
             "dorm-a02": (18, 32), "gate-main": (26, 8), "info-center": (66, 18), "chengyi": (84, 14),
             "dorm-b01": (88, 30), "lab-robotics": (76, 30), "nanyuan": (20, 52), "lab-materials": (34, 48),
             "lab-space": (38, 60), "clove": (70, 52), "civil-building": (84, 48), "dorm-c01": (88, 60),
             "info-center-2": (30, 30), "canteen-2": (60, 24), "library-2": (46, 44), "teaching-2": (70, 40),
             "dorm-d01": (80, 52),
             "window-22": (13, 17), "window-23": (15, 17), "kiosk-hall": (14, 21), "kiosk-xueyuan": (34, 17),
             "desk-library": (40, 31), "kiosk-info": (66, 21), "kiosk-nanyuan": (20, 55), "kiosk-clove": (70, 55),
             "window-info-2": (29, 33), "kiosk-2": (32, 33), "desk-library-2": (46, 47)},
    "lcdc": {"canteen-e": (30, 20), "library-e": (60, 20), "teaching-e": (45, 40), "dorm-e1": (75, 50),
             "lab-chem": (20, 50), "gate-east": (50, 60), "canteen-w": (30, 30), "teaching-w": (60, 30),
             "dorm-w1": (70, 50), "window-e": (45, 43), "kiosk-e": (30, 23), "desk-library-e": (60, 23),
             "kiosk-w": (30, 33)},
}
CAMPUS_PHONES = {"hdut": {"main": "0451-86413000", "second": "0451-86414000"}}


def support_demo(institution: Institution) -> int:
    for code, (x, y, w, h) in AREAS.get(institution.code, {}).items():
        Area.objects.filter(campus__institution=institution, code=code).update(plan_x=x, plan_y=y, plan_w=w, plan_h=h)
    for code, (x, y) in PLACES.get(institution.code, {}).items():
        Building.objects.filter(area__campus__institution=institution, code=code).update(plan_x=x, plan_y=y)
        ServicePoint.objects.filter(area__campus__institution=institution, code=code).update(plan_x=x, plan_y=y)
    for code, phone in CAMPUS_PHONES.get(institution.code, {}).items():
        Campus.objects.filter(institution=institution, code=code).update(phone=phone)
        ServicePoint.objects.filter(area__campus__institution=institution, area__campus__code=code).update(phone=phone)
    points = ServicePoint.objects.filter(area__campus__institution=institution)
    # SUP-3: kiosks and the Card Center's windows recharge, report loss, hand out and replace cards
    points.filter(kind__in=[ServicePoint.Kind.KIOSK, ServicePoint.Kind.WINDOW]).update(
        does_recharge=True, does_loss=True, does_collection=True, does_replacement=True)
    # staffed points keep public holidays off; the library desks answer questions and take loss reports
    points.exclude(kind=ServicePoint.Kind.KIOSK).update(closed_on_holidays=True)
    points.filter(kind=ServicePoint.Kind.DESK).update(does_loss=True)
    points.filter(kind=ServicePoint.Kind.WINDOW).update(hours="mon-fri 08:30-12:00,13:30-17:00; sat-sun closed")
    added = knowledge_base_seed(institution=institution)
    # a few questions asked, so the back office's "Questions asked" has answered and unsure ones to show
    if not Question.objects.filter(institution=institution).exists():
        for question in ("校园卡的余额在哪里查", "How do I report my card lost?", "图书馆的打印机怎么连手机"):
            ask(institution=institution, question=question, channel="demo")
    return added
