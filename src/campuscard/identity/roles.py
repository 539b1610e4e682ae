"""Back-office roles as Django groups with model permissions (ARCHITECTURE rule 6).

A role says *what* a user may do; ``core.permissions.restrict`` adds *where* (their institution).
Patterns are ``app_label.codename`` with ``*`` wildcards, resolved when migrations run, so an app
added later only appends its permissions here.
"""

from __future__ import annotations

from fnmatch import fnmatch

from django.utils.translation import gettext_lazy as _

PLACES = ["core.*_campus", "core.*_area", "core.*_building", "core.*_servicepoint"]
SEE_PLACES = ["core.view_campus", "core.view_area", "core.view_building", "core.view_servicepoint"]

SEE_MONEY = ["ledger.view_account", "ledger.view_transfer", "payments.view_rechargeorder",
             "payments.view_gatewaynotification"]

ROLES: dict[str, list[str]] = {
    "institution_admin": [
        "core.view_institution", "core.change_institution", *PLACES, "core.view_auditlog",
        "identity.*_person", "identity.*_user", "identity.*_apitoken",
        "identity.reveal_personal_data",  # ID and phone numbers unmasked, each look audited (#18 item 7)
        "identity.view_channelbinding", "identity.change_channelbinding", "devices.*_device", *SEE_MONEY,
        "cards.view_*", "payments.*_merchant", "payments.*_terminal", "payments.view_payment", "payments.view_appeal",
        "payments.change_appeal", "payments.view_refund", "payments.*_merchantstaff",
        # the windows' cash shifts (closing anyone's) and the kiosks' cash boxes (#18 item 8)
        "payments.*_cashshift", "payments.*_cashboxemptying",
        "access.view_accesssigningkey", "access.add_accesssigningkey", "access.change_accesssigningkey",
        # zones, who manages them, their holidays and residents; approvals and the log to look at
        "access.*_zone", "access.*_zoneexception", "access.*_dormresidence", "access.view_campusentryapproval",
        "access.view_labpermit", "access.view_visitorpass", "access.view_accessevent",
        "enrollment.view_application", "enrollment.view_registrarphoto", "enrollment.add_registrarphoto",
        "enrollment.change_registrarphoto",
        # who read holders' health records (never the records), the equipment and its rentals (SVC-4, SVC-6)
        "health.view_recordread", "rental.*_item", "rental.view_rental",
        # study rooms, exam sessions and rosters (and naming invigilators), the library's loans (SVC-1 … SVC-3)
        "study.*", "library.view_*",
        # dorm buildings, rooms and their residents, the meter system, laundry machines (SVC-5)
        "dorm.*",
        # city buses (TRN-1): operators, their staff, routes, validators; taps and disputes to look at
        "transit.*_operator", "transit.*_operatorstaff", "transit.*_route", "transit.*_validator",
        "transit.view_binding", "transit.view_tap", "transit.view_dispute",
        # the assistant's knowledge base and the questions it was unsure about (SUP-1)
        "assistant.*",
    ],
    "card_center_operator": ["assistant.*", *SEE_PLACES, "identity.view_person", "identity.add_person", "identity.change_person",
                             "identity.view_channelbinding", "identity.change_channelbinding",
                             *SEE_MONEY, "payments.add_rechargeorder", "devices.view_device", "cards.view_*",
                             # their own cash shift at the window; emptying the kiosks' boxes (#18 item 8)
                             "payments.add_cashshift", "payments.view_cashshift", "payments.add_cashboxemptying",
                             "payments.view_cashboxemptying",
                             "cards.change_card", "cards.change_photo", "cards.change_production",
                             "cards.add_legacymealcard", "cards.view_credential", "payments.*_merchant",
                             "payments.*_terminal", "payments.view_payment", "payments.view_appeal",
                             "payments.change_appeal", "payments.view_refund", "payments.add_refund",
                             "access.view_campusentryapproval", "access.change_campusentryapproval",
                             "cards.add_packageaddon", "cards.change_packageaddon",
                             "cards.view_issuerun", "cards.add_issuerun", "cards.view_issuebatch",
                             "cards.change_issuebatch", "cards.add_card",
                             # card applications (APP-5): review with the evidence, approve / reject
                             "enrollment.view_application", "enrollment.change_application",
                             "enrollment.view_document", "enrollment.view_faceattempt",
                             # the registrar's photos (APP-3): upload when the feed missed someone
                             "enrollment.view_registrarphoto", "enrollment.add_registrarphoto",
                             "enrollment.change_registrarphoto",
                             # city buses: bindings, taps, clearing files; decides disputes (TRN-1, TRN-2)
                             "transit.view_operator", "transit.view_route", "transit.view_binding",
                             "transit.change_binding", "transit.view_tap", "transit.view_dispute",
                             "transit.change_dispute"],
    # only their own merchant's rows (payments.MerchantStaff; payments.settlement.merchant_scope)
    "merchant_operator": [*SEE_PLACES, "payments.view_payment", "payments.view_appeal", "payments.change_appeal",
                          "payments.view_refund", "payments.add_refund", "payments.view_merchant",
                          "payments.view_terminal"],
    "zone_manager": [*SEE_PLACES, "identity.view_person", "access.*_zone", "access.*_zoneexception",
                     "access.*_dormresidence", "access.view_labpermit", "access.change_labpermit",
                     "cards.view_packageaddon", "access.view_visitorpass", "access.change_visitorpass",
                     "access.view_accessevent"],
    "auditor": ["core.view_*", "identity.view_*", "ledger.view_account", "ledger.view_transfer", "payments.view_*",
                "devices.view_device", "cards.view_*", "access.view_*", "health.view_recordread", "rental.view_*",
                "study.view_*", "library.view_*", "transit.view_*",
                "dorm.view_*"],
    # SVC-1/SVC-2: study rooms, seats and their QR sheets, exam sessions and rosters (any exam room)
    "study_admin": [*SEE_PLACES, "identity.view_person", "study.*"],
    # SVC-2: checks holders in at the exam rooms they are named for (study.ExamRoom.invigilators)
    "invigilator": ["study.view_examsession", "study.view_examroom", "study.view_examentry",
                    "study.change_examentry"],
    # SVC-3: the library system's feed of loans and returns (API token or CSV in the back office)
    "library_system": ["identity.view_person", "library.view_loan", "library.add_loan", "library.change_loan"],
    "integration": ["core.view_campus", "identity.view_person", "identity.add_person", "identity.change_person",
                    "enrollment.add_registrarphoto", "enrollment.change_registrarphoto",
                    "study.view_examsession", "study.add_examsession", "study.change_examsession",
                    "study.add_examentry"],  # the registrar's feed (and its exam rosters, SVC-2)
    # SVC-6: reads a holder's health records at their institution (each read logged and shown to the holder)
    # and uploads the hospital's CSV; health.services refuses superusers and other institutions
    "clinician": [*SEE_PLACES, "health.view_examination", "health.view_vaccination", "health.add_examination",
                  "health.change_examination", "health.add_vaccination", "health.change_vaccination"],
    # the campus hospital's feed (a bearer token): writes records, reads none
    "hospital_feed": ["health.add_examination", "health.change_examination", "health.add_vaccination",
                      "health.change_vaccination"],
    # SVC-4: the equipment desk checks items out and in by card and sees the items and rentals
    # TRN-2: a bus company's staff: its own clearing files, taps and disputes (evidence) only
    # (transit.OperatorStaff; transit.selectors.operators_visible)
    "bus_operator": ["transit.view_operator", "transit.view_route", "transit.view_tap", "transit.view_dispute",
                     "transit.change_dispute"],
    "equipment_desk": [*SEE_PLACES, "rental.view_item", "rental.change_item", "rental.view_rental",
                       "rental.add_rental", "rental.change_rental"],
    # SVC-5: the dorm rooms' meter accounts and residents, top-ups (refund one the meter never took), the
    # daily reconciliation against the meter system
    "dorm_electricity_operator": [*SEE_PLACES, "identity.view_person", "dorm.view_dormbuilding", "dorm.view_room",
                                  "dorm.change_room", "dorm.view_topup", "dorm.change_topup", "dorm.view_reading",
                                  "dorm.view_reconciliation", "dorm.add_reconciliation", "dorm.view_metersystem"],
    # SVC-5: the dorm buildings' laundry machines and their bookings
    "laundry_operator": [*SEE_PLACES, "dorm.view_dormbuilding", "dorm.view_machine", "dorm.change_machine",
                         "dorm.add_machine", "dorm.view_booking"],
}

ROLE_LABELS = {
    "institution_admin": _("institution administrator"),
    "card_center_operator": _("Card Center operator"),
    "merchant_operator": _("merchant operator"),
    "zone_manager": _("zone manager"),
    "auditor": _("auditor"),
    "integration": _("integrated system"),
    "study_admin": _("study services administrator"),
    "invigilator": _("invigilator"),
    "library_system": _("library system (loan feed)"),
    "clinician": _("clinician"),
    "hospital_feed": _("campus hospital feed"),
    "equipment_desk": _("equipment desk"),
    "dorm_electricity_operator": _("dormitory electricity operator"),
    "laundry_operator": _("laundry operator"),
    "bus_operator": _("bus operator"),
}


def ensure_role_groups(**_kwargs) -> None:
    """Create or refresh one group per role with exactly the permissions its patterns match."""
    from django.contrib.auth.models import Group, Permission

    permissions = list(Permission.objects.select_related("content_type"))
    for role, patterns in ROLES.items():
        group, _created = Group.objects.get_or_create(name=role)
        wanted = [p for p in permissions
                  if any(fnmatch(f"{p.content_type.app_label}.{p.codename}", pat) for pat in patterns)]
        group.permissions.set(wanted)
