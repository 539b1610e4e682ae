"""Identity documents (ID-2): resident IDs by checksum, special certificates by their format."""

from __future__ import annotations

import re

from django.db import models
from django.utils.translation import gettext_lazy as _
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError


class IdType(models.TextChoices):
    RESIDENT = "resident", _("resident ID card")
    PASSPORT = "passport", _("passport")
    HKMO_PERMIT = "hkmo_permit", _("Mainland Travel Permit for HK/Macau residents")
    TW_PERMIT = "tw_permit", _("Taiwan residence permit / travel permit")


SPECIAL_CERTIFICATES = {IdType.PASSPORT, IdType.HKMO_PERMIT, IdType.TW_PERMIT}

_PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")
_HKMO = re.compile(r"^[HM]\d{8}(\d{2})?$")  # 回乡证: H/M + 8 digits (+2 for the card version)
_TW_TRAVEL = re.compile(r"^\d{8}$")  # 台胞证
_TW_RESIDENCE = re.compile(r"^830000\d{11}[\dX]$")  # 台湾居民居住证, same checksum as resident IDs


def normalise(id_type: str, number: str) -> str:
    return re.sub(r"\s+", "", number or "").upper()


def _stdnum_reason(exc: StdnumError) -> str:
    """python-stdnum explains in English only; say the same in the user's language."""
    from stdnum import exceptions as e

    reasons = [(e.InvalidChecksum, _("wrong check digit")), (e.InvalidLength, _("wrong length")),
               (e.InvalidFormat, _("wrong format")), (e.InvalidComponent, _("impossible birth date or region"))]
    return str(next((text for kind, text in reasons if isinstance(exc, kind)), _("not valid")))


def validate_document(id_type: str, number: str) -> str:
    """Return the normalised number or raise ValueError with a reason a person can act on."""
    number = normalise(id_type, number)
    if not number:
        raise ValueError(_("the ID number is empty"))
    if id_type == IdType.RESIDENT:
        try:
            return ric.validate(number)
        except StdnumError as exc:
            raise ValueError(_("resident ID %(number)s is not valid (%(reason)s)")
                             % {"number": number, "reason": _stdnum_reason(exc)}) from exc
    if id_type == IdType.PASSPORT:
        if _PASSPORT.match(number):
            return number
        raise ValueError(_("passport number %(number)s is not valid") % {"number": number})
    if id_type == IdType.HKMO_PERMIT:
        if _HKMO.match(number):
            return number
        raise ValueError(_("HK/Macau permit number %(number)s is not valid (H or M and 8 or 10 digits)")
                         % {"number": number})
    if id_type == IdType.TW_PERMIT:
        if _TW_TRAVEL.match(number):
            return number
        if _TW_RESIDENCE.match(number) and ric.calc_check_digit(number) == number[17]:
            return number
        raise ValueError(_("Taiwan permit number %(number)s is not valid") % {"number": number})
    raise ValueError(_("unknown ID type %(type)s") % {"type": id_type})


def initial_secret(id_number: str) -> str:
    """ID-3 / ID-6: the last six characters of the ID number, letters upper-case."""
    return normalise("", id_number)[-6:].upper()
