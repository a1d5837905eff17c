"""Validation of mainland China formats: mobile numbers and resident ID numbers (GB 11643-1999)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from core.i18n import N_

__all__ = [
    "InvalidFormat",
    "ResidentId",
    "normalize_mainland_mobile",
    "normalize_mainland_phone",
    "parse_resident_id",
]

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class InvalidFormat(ValueError):
    """The value is not in the expected format; the message says why, for a person to read."""


def normalize_mainland_mobile(raw: str) -> str:
    """Return E.164 (`+8613812345678`) or raise InvalidFormat.

    Accepts spaces, dashes and a +86 / 0086 / 86 prefix, the ways people write numbers on forms.
    """
    cleaned = re.sub(r"[\s\-()]", "", raw or "")
    for prefix in ("+86", "0086"):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
            break
    else:
        if len(cleaned) == 13 and cleaned.startswith("86"):
            cleaned = cleaned[2:]
    if not cleaned:
        raise InvalidFormat(N_("Enter a mobile phone number."))
    if cleaned.startswith("+"):  # another country code: not a mainland number
        raise InvalidFormat(N_("Enter a mainland mobile number: 11 digits starting with 13 to 19."))
    if not cleaned.isdigit():
        raise InvalidFormat(N_("A phone number may contain only digits, spaces, dashes and a +86 prefix."))
    if not _MOBILE.match(cleaned):
        raise InvalidFormat(N_("Enter a mainland mobile number: 11 digits starting with 13 to 19."))
    return "+86" + cleaned


@dataclass(frozen=True)
class ResidentId:
    number: str
    birth_date: date
    sex: str  # "male" | "female", from the parity of the sequence code


def id_check_character(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def parse_resident_id(raw: str) -> ResidentId:
    number = (raw or "").strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise InvalidFormat(N_("An ID number has 18 characters: 17 digits and a final digit or X."))
    if id_check_character(number[:17]) != number[17]:
        raise InvalidFormat(N_("This ID number is mistyped: its check character does not match."))
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise InvalidFormat(N_("This ID number holds an impossible birth date.")) from exc
    return ResidentId(number=number, birth_date=born, sex="male" if int(number[16]) % 2 else "female")


# A landline's national number without the trunk 0: Beijing (10) and the 2x cities have two-digit area
# codes and eight-digit numbers; elsewhere a three-digit area code and a seven- or eight-digit number.
_LANDLINE = re.compile(r"^(?:(?:10|2\d)\d{8}|[3-9]\d{9,10})$")


def normalize_mainland_phone(raw: str) -> str:
    """A mainland mobile or landline (desk) number as E.164: `010-6512 3456` → `+861065123456`,
    `0571 8765 4321` → `+8657187654321`; a mobile as `normalize_mainland_mobile`. InvalidFormat if neither."""
    cleaned = re.sub(r"[\s\-()]", "", raw or "")
    if not cleaned:
        raise InvalidFormat(N_("Enter the phone number you answer on: a mobile or a desk number."))
    if cleaned.startswith(("+86", "0086")):
        national = cleaned.removeprefix("+86").removeprefix("0086")
    elif len(cleaned) == 13 and cleaned.startswith("86"):
        national = cleaned[2:]
    elif cleaned.startswith("0"):
        national = cleaned[1:]  # the trunk 0 of a landline dialled inside China
    elif cleaned.startswith("+") or not cleaned.isdigit():
        national = ""
    else:
        national = cleaned
    if national.isdigit() and _MOBILE.match(national):
        return "+86" + national
    if national.isdigit() and _LANDLINE.match(national):
        return "+86" + national
    raise InvalidFormat(
        N_("Enter a mainland number: a mobile (11 digits from 13 to 19) or a desk phone with its area code.")
    )
