"""GS1 element strings, human-readable ``(AI)`` text and Digital Link URIs, through biip.

biip returns a message even when a check digit is wrong: the error sits in the element's
``*_error`` fields, so every one of them is read here and turned into a rejection.
"""

from __future__ import annotations

import dataclasses
import re

from biip import ParseConfig, ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from protocol.barcodes.result import Decoded, Kind, Rejected

GS = "\x1d"
_CONFIG = ParseConfig(separator_chars=[GS])

# Identifying AIs in order of precedence, with the kind each one means (DESIGN.md §4).
_IDENTITIES: tuple[tuple[str, Kind], ...] = (
    ("8018", Kind.PATIENT),
    ("8017", Kind.STAFF),
    ("8004", Kind.ASSET),
    ("8003", Kind.TRAY),
    ("414", Kind.LOCATION),
    ("01", Kind.INSTRUMENT),
)
# AIs that commonly follow a variable-length field; used to spot a missing separator.
_FOLLOWERS = frozenset({"10", "11", "17", "21", "240", "241", "250", "30", "7003"})


def decode_element_string(data: str, symbology: str | None) -> Decoded | Rejected:
    try:
        message = (
            GS1Message.parse_hri(data, config=_CONFIG)
            if data.startswith("(")
            else GS1Message.parse(data, config=_CONFIG)
        )
    except ParseError as exc:
        return _parse_failure(str(exc), symbology)
    return _classify(message, "gs1", symbology)


def decode_digital_link(uri: str, symbology: str | None) -> Decoded | Rejected:
    try:
        message = GS1DigitalLinkURI.parse(uri, config=_CONFIG).as_gs1_message()
    except ParseError as exc:
        return Rejected("gs1_digital_link_invalid", _plain(str(exc)), symbology)
    return _classify(message, "gs1_digital_link", symbology)


def decode_gtin(digits: str, symbology: str | None) -> Decoded | Rejected:
    """A bare EAN/UPC: a product, never one trackable item."""
    try:
        gtin = Gtin.parse(digits)
    except ParseError as exc:
        return Rejected("gtin_invalid", _plain(str(exc)), symbology)
    value = gtin.as_gtin_14()
    return Decoded(
        Kind.PRODUCT,
        f"gs1:01:{value}",
        "gs1",
        {"gtin": value},
        symbology,
        ("product_not_trackable",),
    )


def _classify(message: GS1Message, scheme: str, symbology: str | None) -> Decoded | Rejected:
    fields: dict[str, str] = {}
    warnings: list[str] = []
    for element in message.element_strings:
        error = _first_error(element)
        if error:
            return Rejected("gs1_check_failed", _plain(error), symbology)
        fields[element.ai.ai] = element.value
        if element.ai.separator_required and _runs_into_next_ai(element.value):
            warnings.append(f"possible_missing_separator_after_{element.ai.ai}")
    for ai, kind in _IDENTITIES:
        if ai in fields:
            return _identified(ai, kind, fields, scheme, symbology, warnings)
    return Decoded(
        Kind.UNKNOWN,
        "gs1:" + ":".join(f"{k}:{v}" for k, v in fields.items()),
        scheme,
        fields,
        symbology,
        (*warnings, "gs1_without_identity"),
    )


def _identified(
    ai: str,
    kind: Kind,
    fields: dict[str, str],
    scheme: str,
    symbology: str | None,
    warnings: list[str],
) -> Decoded | Rejected:
    value = fields[ai]
    if ai in ("8017", "8018", "8003") and not _check_digit_ok(ai, value):
        return Rejected("gs1_check_failed", f"({ai}) {value} has a wrong check digit", symbology)
    key = f"gs1:{ai}:{value}"
    if ai == "414" and "254" in fields:
        key += f":254:{fields['254']}"
    if ai == "01":
        if "21" in fields:
            key += f":21:{fields['21']}"
        else:
            kind = Kind.PRODUCT
            warnings.append("product_not_trackable")
    return Decoded(kind, key, scheme, fields, symbology, tuple(warnings))


def _check_digit_ok(ai: str, value: str) -> bool:
    digits = value[1:14] if ai == "8003" else value
    if not digits.isdigit() or len(digits) < 2:
        return False
    return gs1_standard_check_digit(digits[:-1]) == int(digits[-1])


def _runs_into_next_ai(value: str) -> bool:
    """Heuristic: the tail of a variable-length value parses as common follow-up AIs.

    A missing separator cannot be detected in general (the data may legitimately look like
    an AI), so this only warns.
    """
    for start in range(1, len(value) - 2):
        tail = value[start:]
        if tail[:2] not in _FOLLOWERS and tail[:3] not in _FOLLOWERS and tail[:4] not in _FOLLOWERS:
            continue
        try:
            message = GS1Message.parse(tail, config=_CONFIG)
        except ParseError:
            continue
        ais = {e.ai.ai for e in message.element_strings}
        if ais <= _FOLLOWERS and not any(_first_error(e) for e in message.element_strings):
            return True
    return False


def _first_error(element: GS1ElementString) -> str | None:
    """biip keeps check-digit and format problems in ``*_error`` fields, not exceptions."""
    for f in dataclasses.fields(element):
        error = getattr(element, f.name)
        if f.name.endswith("_error") and error:
            return str(error)
    return None


_DATE_AIS = re.compile(r"GS1 AI \((11|12|13|15|16|17|7006|7007)\)")


def _parse_failure(message: str, symbology: str | None) -> Rejected:
    date_ai = _DATE_AIS.search(message)
    if date_ai:
        return Rejected(
            "gs1_bad_date",
            f"the date in ({date_ai.group(1)}) is not a valid YYMMDD date",
            symbology,
        )
    return Rejected("gs1_invalid", f"not a valid GS1 label: {_plain(message)}", symbology)


def _plain(message: str) -> str:
    return message.replace(GS, "<GS>")
