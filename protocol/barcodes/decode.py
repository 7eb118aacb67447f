"""``decode(raw, rules)``: one reading of any label, or a reason why not. Never raises.

Order of recognition:
1. Trailing CR, LF and TAB are stripped; over 512 characters or nothing left is refused.
2. A leading AIM symbology identifier is split off and reported.
3. Control characters other than GS (and the configured GS substitute) are refused.
4. ``+`` starts HIBC; ``http(s)://`` a GS1 Digital Link; a GS1 symbology, ``(`` or a
   leading digit a GS1 element string (a bare 8/12/13/14-digit EAN/UPC is a product).
5. Otherwise the site's prefixes and patterns; anything left is ``unknown``, kept and shown.
"""

from __future__ import annotations

from protocol.barcodes import aim, gs1, hibc
from protocol.barcodes.result import Decoded, Kind, Rejected, Result
from protocol.barcodes.rules import DEFAULT_RULES, DecodeRules

MAX_CHARS = 512
_TRAILING = "\r\n\t"
# How every key ``decode`` makes begins: a text that starts so is a key already.
KEY_SCHEMES = ("gs1:", "hibc:", "hibc-secondary:", "site:", "raw:")


def decode(raw: str, rules: DecodeRules = DEFAULT_RULES) -> Result:
    try:
        return _decode(raw, rules)
    except Exception as exc:  # the promise is "never raises": a bug becomes a bad read
        return Rejected("decoder_error", f"this label could not be read ({type(exc).__name__})")


def as_key(text: str, rules: DecodeRules = DEFAULT_RULES) -> str:
    """A code as people type it (as printed, ``INS-1``, or as a key, ``site:INS-1``) as the
    hub files it; unreadable text is kept as given."""
    text = text.strip()
    if text.startswith(KEY_SCHEMES):
        return text
    found = decode(text, rules)
    return found.key if isinstance(found, Decoded) else text


def _decode(raw: str, rules: DecodeRules) -> Result:
    text = raw.rstrip(_TRAILING)
    if len(text) > MAX_CHARS:
        return Rejected("too_long", f"the read is {len(text)} characters; at most {MAX_CHARS}")
    symbology, data = aim.split(text)
    sym = symbology.identifier if symbology else None
    if not data.strip():
        return Rejected("empty", "nothing was read", sym)
    if rules.gs_substitute:
        data = data.replace(rules.gs_substitute, gs1.GS)
    bad = next((c for c in data if _forbidden(c)), None)
    if bad is not None:
        return Rejected(
            "control_characters", f"the read holds an unexpected character U+{ord(bad):04X}", sym
        )
    if data.startswith("+"):
        return _hibc(data, symbology)
    if data[:8].lower().startswith(("http://", "https://")):
        return gs1.decode_digital_link(data, sym)
    site = rules.site_kind(data)
    if site is None and (
        data.startswith("(") or data[0].isdigit() or (symbology and symbology.is_gs1)
    ):
        if data.isdigit() and len(data) in (8, 12, 13) and not (symbology and symbology.is_gs1):
            return gs1.decode_gtin(data, sym)
        return gs1.decode_element_string(data, sym)
    if site is not None:
        return _site(data, site, sym)
    return Decoded(Kind.UNKNOWN, f"raw:{data}", "unknown", {}, sym, ("unrecognised_label",))


def _forbidden(char: str) -> bool:
    code = ord(char)
    if char == gs1.GS:
        return False
    return code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF or 0x80 <= code < 0xA0


def _hibc(data: str, symbology: aim.Symbology | None) -> Result:
    sym = symbology.identifier if symbology else None
    stripped = bool(symbology and symbology.check_stripped)
    try:
        label = hibc.parse(data, check_stripped=stripped)
    except hibc.HibcError as exc:
        return Rejected(exc.reason, str(exc), sym)
    warnings = ("hibc_check_stripped_by_scanner",) if stripped else ()
    fields = {
        k: v
        for k, v in (
            ("lic", label.lic),
            ("pcn", label.pcn),
            ("unit_of_measure", label.unit_of_measure),
            ("check", label.check),
            ("link", label.link),
            ("form", label.form),
        )
        if v is not None
    }
    fields.update(label.secondary)
    if label.form == "secondary":
        return Decoded(
            Kind.PRODUCT,
            f"hibc-secondary:{label.link}",
            "hibc",
            fields,
            sym,
            (*warnings, "hibc_secondary_needs_primary"),
        )
    key = f"hibc:{label.lic}:{label.pcn}"
    if "serial" in label.secondary:
        return Decoded(
            Kind.INSTRUMENT, f"{key}:{label.secondary['serial']}", "hibc", fields, sym, warnings
        )
    return Decoded(Kind.PRODUCT, key, "hibc", fields, sym, (*warnings, "product_not_trackable"))


def _site(data: str, kind: Kind, sym: str | None) -> Result:
    label = data.strip().upper()
    fields = {"label": label}
    if kind is Kind.COMMAND:
        fields["command"] = label.split("-", 1)[1]
    return Decoded(kind, f"site:{label}", "site", fields, sym)
