"""The decoder: GS1 by biip, AIM identifiers, site labels, and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.barcodes import Decoded, DecodeRules, Kind, Rejected, decode

GS = "\x1d"

# GS1 General Specifications style examples (GTIN 09506000134352 is GS1's own example item).
VALID = [
    ("]d2010950600013435221ABC123", Kind.INSTRUMENT, "gs1:01:09506000134352:21:ABC123", "]d2"),
    (
        f"]C101095060001343521725123110LOT7{GS}21SN9",
        Kind.INSTRUMENT,
        "gs1:01:09506000134352:21:SN9",
        "]C1",
    ),
    ("(01)09506000134352(17)251231(21)XYZ", Kind.INSTRUMENT, "gs1:01:09506000134352:21:XYZ", None),
    (
        "]Q1https://id.gs1.org/01/09506000134352/21/ABC",
        Kind.INSTRUMENT,
        "gs1:01:09506000134352:21:ABC",
        "]Q1",
    ),
    ("0109506000134352", Kind.PRODUCT, "gs1:01:09506000134352", None),
    ("]E09506000134352", Kind.PRODUCT, "gs1:01:09506000134352", "]E0"),
    ("]d280030950600013435211", Kind.TRAY, "gs1:8003:0950600013435211", "]d2"),
    ("]C18004950600013435TAG7", Kind.ASSET, "gs1:8004:950600013435TAG7", "]C1"),
    ("4149506000134352", Kind.LOCATION, "gs1:414:9506000134352", None),
    ("]C18017950600013435200015", Kind.STAFF, "gs1:8017:950600013435200015", "]C1"),
    ("8018950600013435200015", Kind.PATIENT, "gs1:8018:950600013435200015", None),
    ("INS-1001", Kind.INSTRUMENT, "site:INS-1001", None),
    ("try-0007\r\n", Kind.TRAY, "site:TRY-0007", None),
    ("]A0CASE-88", Kind.CASE, "site:CASE-88", "]A0"),
    ("CMD-BI-PASS", Kind.COMMAND, "site:CMD-BI-PASS", None),
    ("STE-02", Kind.STERILIZER, "site:STE-02", None),
    ("PAT-77", Kind.PATIENT, "site:PAT-77", None),
    ("hello world", Kind.UNKNOWN, "raw:hello world", None),
]


@pytest.mark.parametrize(("raw", "kind", "key", "symbology"), VALID)
def test_labels_decode_to_kind_key_and_symbology(
    raw: str, kind: Kind, key: str, symbology: str | None
) -> None:
    """Each kind of label yields its kind, a stable key and the AIM symbology it came with."""
    result = decode(raw)
    assert isinstance(result, Decoded), result
    assert (result.kind, result.key, result.symbology) == (kind, key, symbology)


def test_product_alone_is_flagged_not_trackable() -> None:
    """(01) without (21) is a product and carries a warning."""
    result = decode("0109506000134352")
    assert isinstance(result, Decoded) and "product_not_trackable" in result.warnings


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("0109506000134353", "gs1_check_failed"),  # bad GTIN check digit
        ("(01)09506000134352(17)251331(21)X", "gs1_bad_date"),  # month 13
        ("414950600013435", "gs1_invalid"),  # GLN with 12 digits
        ("4149506000134353", "gs1_check_failed"),  # GLN with a wrong check digit
        ("8017950600013435200016", "gs1_check_failed"),  # GSRN with a wrong check digit
        ("https://id.gs1.org/01/09506000134353", "gs1_check_failed"),
        ("\r\n", "empty"),
        ("]d2", "empty"),
        ("INS-\x07001", "control_characters"),
        ("A" * 513, "too_long"),
        ("INS-\ud800", "control_characters"),
    ],
)
def test_invalid_labels_are_rejected_with_reason(raw: str, reason: str) -> None:
    """Each invalid label is a Rejected with its machine reason and a human message."""
    result = decode(raw)
    assert isinstance(result, Rejected), result
    assert result.reason == reason and result.message


def test_configured_gs_substitute_separates_variable_fields() -> None:
    """A keyboard-wedge scanner's stand-in for GS separates fields like GS itself."""
    rules = DecodeRules(gs_substitute="~")
    result = decode("010950600013435210LOT7~21SN9", rules)
    assert isinstance(result, Decoded) and result.fields["21"] == "SN9"


def test_missing_separator_is_flagged_where_visible() -> None:
    """A lot that swallowed a following (21) because GS was dropped gets a warning."""
    result = decode("010950600013435210LOT4221A12B3")
    assert isinstance(result, Decoded)
    assert result.kind is Kind.PRODUCT
    assert "possible_missing_separator_after_10" in result.warnings


def test_site_rules_are_configurable() -> None:
    """A site can add prefixes and full-match patterns per kind."""
    rules = DecodeRules(prefixes={Kind.ASSET: ("EQ",)}, patterns={Kind.CASE: r"OR\d{6}"})
    asset = decode("EQ-555", rules)
    case = decode("OR123456", rules)
    assert isinstance(asset, Decoded) and asset.kind is Kind.ASSET
    assert isinstance(case, Decoded) and case.kind is Kind.CASE
    assert isinstance(decode("INS-1", rules), Decoded)
    assert decode("INS-1", rules).kind is Kind.UNKNOWN  # type: ignore[union-attr]


def test_a_bad_pattern_is_refused_when_rules_are_built() -> None:
    """A site regex that does not compile is a configuration error, not a runtime crash."""
    with pytest.raises(ValueError, match="does not compile"):
        DecodeRules(patterns={Kind.CASE: "("})


# Hypothesis caps generated sizes, so 10,000-character inputs are built by repetition.
ten_thousand = st.text(min_size=1, max_size=40).map(lambda s: (s * 10_000)[:10_000])
any_text = st.text(alphabet=st.characters(codec=None), max_size=600)


@settings(max_examples=400)
@given(any_text | ten_thousand | st.sampled_from(["\ud800", "]d2\udfff", "+\x00", "(01)"]))
def test_any_text_yields_decoded_or_rejected(raw: str) -> None:
    """Any text (control characters, surrogates, 10,000 characters) never raises."""
    result = decode(raw)
    assert isinstance(result, (Decoded, Rejected))
    # decode() turns internal exceptions into "decoder_error"; none may happen.
    assert not (isinstance(result, Rejected) and result.reason == "decoder_error"), result


@given(st.text(alphabet="0123456789()\x1d+$/ABCDEFGHIJKLMNOPQRSTUVWXYZ-.", max_size=80))
def test_barcode_like_text_yields_decoded_or_rejected(raw: str) -> None:
    """Text made of barcode characters reaches the GS1 and HIBC parsers and never raises."""
    result = decode(raw)
    assert not (isinstance(result, Rejected) and result.reason == "decoder_error"), result
