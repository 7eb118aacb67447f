"""HIBC LIC (ANSI/HIBC 2.6) by hand: biip reads GS1 only and no maintained Python library
reads HIBC, so this module owns the grammar and the mod-43 check.

Forms, each starting with ``+``:
- primary:       ``+`` LIC(4, first a letter) PCN(1-18) U/M(1 digit) check
- secondary:     ``+`` data [``/`` supplementary]* link check
- concatenated:  primary-without-check ``/`` data [``/`` supplementary]* check

Secondary data: ``YYJJJ`` + lot (Julian), ``$`` lot, ``$+`` serial, ``$$`` [flag] date +
lot, ``$$+`` [flag] date + serial, where the flag 0/1 starts an MMYY date, 2 MMDDYY,
3 YYMMDD, 4 YYMMDDHH, 5 YYJJJ, 6 YYJJJHH, 7 no date, 8 two-digit quantity, 9 five-digit
quantity. Supplementary fields: ``S`` serial, ``16D`` manufacture date, ``14D`` expiry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-. $/+%"
_VALUE = {c: i for i, c in enumerate(CHARSET)}
_ALNUM = re.compile(r"^[0-9A-Z]+$")


class HibcError(ValueError):
    """Carries the rejection reason; caught inside the decoder, never escapes it."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_character(data: str) -> str:
    """The mod-43 check character over ``data`` (which includes the leading ``+``)."""
    try:
        return CHARSET[sum(_VALUE[c] for c in data) % 43]
    except KeyError as exc:
        raise HibcError("hibc_bad_character", f"{exc.args[0]!r} is not an HIBC character") from None


@dataclass(frozen=True)
class Hibc:
    form: str  # primary | secondary | concatenated
    lic: str | None = None
    pcn: str | None = None
    unit_of_measure: str | None = None
    check: str | None = None  # None when the scanner stripped it (]A3)
    link: str | None = None
    secondary: dict[str, str] = field(default_factory=dict)


def parse(text: str, check_stripped: bool = False) -> Hibc:
    """Parse an HIBC LIC string or raise ``HibcError`` with a reason."""
    if not text.startswith("+") or len(text) < 3:
        raise HibcError("hibc_invalid", "an HIBC label starts with '+' and carries data")
    bad = next((c for c in text if c not in _VALUE), None)
    if bad is not None:
        raise HibcError("hibc_bad_character", f"{bad!r} is not allowed in an HIBC label")
    if check_stripped:
        body, check = text, None
    else:
        body, check = text[:-1], text[-1]
        expected = check_character(body)
        if check != expected:
            raise HibcError(
                "hibc_check_mismatch",
                f"HIBC check character is {check!r} but the data needs {expected!r}",
            )
    if body[1].isalpha():
        return _primary(body, check)
    if body[1].isdigit() and not re.match(r"^\+\d{5}", body):
        raise HibcError("hibc_lic_starts_with_digit", "an HIBC labeler code starts with a letter")
    if len(body) < 3:
        raise HibcError("hibc_invalid", "HIBC secondary data is missing")
    # A separate secondary ends with the link character (the primary's check character).
    return Hibc(form="secondary", check=check, link=body[-1], secondary=_secondary(body[1:-1]))


def _primary(body: str, check: str | None) -> Hibc:
    head, _, rest = body.partition("/")
    lic, pcn, uom = head[1:5], head[5:-1], head[-1:]
    if len(head) < 7 or not _ALNUM.match(lic) or not lic[0].isalpha():
        raise HibcError("hibc_invalid", "HIBC primary needs a 4-character labeler code")
    if not uom.isdigit():
        raise HibcError("hibc_bad_unit", f"HIBC unit of measure must be a digit, not {uom!r}")
    if not 1 <= len(pcn) <= 18 or not _ALNUM.match(pcn):
        raise HibcError("hibc_invalid", "HIBC product code must be 1-18 letters or digits")
    secondary = _secondary(rest) if rest else {}
    form = "concatenated" if rest else "primary"
    return Hibc(form, lic, pcn, uom, check, None, secondary)


def _secondary(data: str) -> dict[str, str]:
    main, *supplements = data.split("/")
    fields = _main_field(main)
    for sup in supplements:
        if sup.startswith("S") and sup[1:]:
            fields["serial"] = _text(sup[1:], "serial")
        elif sup.startswith("16D"):
            fields["manufactured"] = _yyyymmdd(sup[3:])
        elif sup.startswith("14D"):
            fields["expiry"] = _yyyymmdd(sup[3:])
        else:
            raise HibcError("hibc_invalid", f"unknown HIBC supplementary field {sup!r}")
    return fields


def _main_field(main: str) -> dict[str, str]:
    if main.startswith("$$+"):
        return _flagged(main[3:], "serial")
    if main.startswith("$$"):
        return _flagged(main[2:], "lot")
    if main.startswith("$+"):
        return {"serial": _text(main[2:], "serial")}
    if main.startswith("$"):
        return {"lot": _text(main[1:], "lot")}
    if re.match(r"^\d{5}", main):
        fields = {"expiry": _julian(main[:5])}
        if main[5:]:
            fields["lot"] = _text(main[5:], "lot", 13)
        return fields
    raise HibcError("hibc_invalid", f"unrecognised HIBC secondary data {main!r}")


_DATE_FORMS = {"2": ("%m%d%y", 6), "3": ("%y%m%d", 6), "4": ("%y%m%d%H", 8)}


def _flagged(data: str, name: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    if data[:1] in ("8", "9"):
        width = 2 if data[0] == "8" else 5
        quantity = data[1 : 1 + width]
        if len(quantity) != width or not quantity.isdigit():
            raise HibcError("hibc_invalid", "HIBC quantity must be digits")
        fields["quantity"] = str(int(quantity))
        data = data[1 + width :]
        # After a quantity the date is optional: take one only where a valid date stands.
        try:
            expiry, data = _dated(data)
        except HibcError:
            expiry = None
        if expiry:
            fields["expiry"] = expiry
    else:
        expiry, data = _dated(data)
        if expiry:
            fields["expiry"] = expiry
    if data:
        fields[name] = _text(data, name)
    return fields


def _dated(data: str) -> tuple[str | None, str]:
    flag = data[:1]
    if flag in ("0", "1"):
        return _strptime(data[:4], "%m%y", "%Y-%m"), data[4:]
    if flag in _DATE_FORMS:
        fmt, width = _DATE_FORMS[flag]
        text = data[1 : 1 + width]
        out = "%Y-%m-%dT%H" if flag == "4" else "%Y-%m-%d"
        return _strptime(text, fmt, out), data[1 + width :]
    if flag == "5":
        return _julian(data[1:6]), data[6:]
    if flag == "6":
        day = _julian(data[1:6])
        hour = data[6:8]
        if not hour.isdigit() or int(hour) > 23:
            raise HibcError("hibc_bad_date", f"bad HIBC hour {hour!r}")
        return f"{day}T{hour}", data[8:]
    if flag == "7":
        return None, data[1:]
    raise HibcError("hibc_bad_date", f"unknown HIBC date flag {flag!r}")


def _strptime(text: str, fmt: str, out: str) -> str:
    try:
        if not text.isdigit():
            raise ValueError(text)
        return datetime.strptime(text, fmt).strftime(out)
    except ValueError:
        raise HibcError("hibc_bad_date", f"{text!r} is not a valid HIBC date") from None


def _julian(text: str) -> str:
    if len(text) != 5 or not text.isdigit() or not 1 <= int(text[2:]) <= 366:
        raise HibcError("hibc_bad_date", f"{text!r} is not a valid YYJJJ date")
    year = 2000 + int(text[:2])
    day = date(year, 1, 1) + timedelta(days=int(text[2:]) - 1)
    if day.year != year:
        raise HibcError("hibc_bad_date", f"{text!r}: day {text[2:]} does not exist in {year}")
    return day.isoformat()


def _yyyymmdd(text: str) -> str:
    if len(text) != 8:
        raise HibcError("hibc_bad_date", f"{text!r} is not a YYYYMMDD date")
    return _strptime(text, "%Y%m%d", "%Y-%m-%d")


def _text(value: str, name: str, limit: int = 18) -> str:
    if not 1 <= len(value) <= limit or not _ALNUM.match(value):
        raise HibcError("hibc_invalid", f"HIBC {name} must be 1-{limit} letters or digits")
    return value


def pairs(primary: Hibc, secondary: Hibc) -> bool:
    """A separately scanned secondary belongs to the primary whose check character is its link."""
    return (
        primary.form == "primary"
        and secondary.form == "secondary"
        and primary.check is not None
        and secondary.link == primary.check
    )
