"""HIBC LIC: the mod-43 check against published examples, every form, and bad labels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.barcodes import Decoded, Kind, Rejected, decode, hibc

# Published examples: ANSI/HIBC 2.6 (§4.3.1 Figure 3, Appendix C.3 Figure C2, §4.3.3) and
# the HIBC secondary/link examples quoted in public decoder test suites.
PUBLISHED = [
    ("+A123BJC5D6E71", "G"),  # ANSI/HIBC 2.6 §4.3.1, primary
    ("+H123ABC01234567890", "D"),  # ANSI/HIBC 2.6 Appendix C.3
    ("+A123BJC5D6E71/$$52001510X3", "C"),  # ANSI/HIBC 2.6 §4.3.3, concatenated
    ("+$$52001510X3G", "D"),  # secondary linked to the primary above by "G"
    ("+A123BJCMD6E79", "+"),  # a primary whose check character is "+"
    ("+$$52001510X3+", " "),  # ... and its secondary: link "+", check a space
    ("+J123AQ3451/$$3231231BC34567/S4012", "R"),
    ("+E20831269/$$8020423286539", "+"),
    ("+E20831339/$$8020223283831", "T"),
]


@pytest.mark.parametrize(("data", "check"), PUBLISHED)
def test_check_character_matches_published_example(data: str, check: str) -> None:
    """Our mod-43 check character equals the one printed in the published example."""
    assert hibc.check_character(data) == check


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (
            "+A123BJC5D6E71G",
            {"form": "primary", "lic": "A123", "pcn": "BJC5D6E7", "unit_of_measure": "1"},
        ),
        (
            "+A123BJC5D6E71/$$52001510X3C",
            {"form": "concatenated", "expiry": "2020-01-15", "lot": "10X3"},
        ),
        ("+$$52001510X3GD", {"form": "secondary", "link": "G", "lot": "10X3"}),
        (
            "+J123AQ3451/$$3231231BC34567/S4012R",
            {"expiry": "2023-12-31", "lot": "BC34567", "serial": "4012"},
        ),
        (
            "+A99912345/$$90234510X3/16D20111212/14D20200906/S77DEFG458",
            {"quantity": "2345", "lot": "10X3", "manufactured": "2011-12-12", "serial": "77DEFG45"},
        ),
        ("+J123AQ3451/$$0125BC34567/S4012K", {"expiry": "2025-01", "lot": "BC34567"}),
        ("+A123BJC5D6E71G", {"check": "G"}),
        ("+2001510X3GG", {"form": "secondary", "expiry": "2020-01-15", "lot": "10X3"}),
    ],
)
def test_forms_decode_to_their_fields(label: str, expected: dict[str, str]) -> None:
    """Primary, secondary and concatenated forms yield their LIC, PCN, dates, lot and serial."""
    result = decode(label)
    assert isinstance(result, Decoded), result
    assert expected.items() <= result.fields.items()


def test_serial_makes_an_instrument_and_lot_only_a_product() -> None:
    """An HIBC label with a serial is one trackable instrument; without, a product."""
    with_serial = decode("+J123AQ3451/$$3231231BC34567/S4012R")
    assert isinstance(with_serial, Decoded) and with_serial.kind is Kind.INSTRUMENT
    assert with_serial.key == "hibc:J123:AQ345:4012"
    lot_only = decode("+A123BJC5D6E71/$$52001510X3C")
    assert isinstance(lot_only, Decoded) and lot_only.kind is Kind.PRODUCT


def test_stripped_check_character_is_accepted_with_warning() -> None:
    """With ]A3 the scanner verified and removed the check character: accept, warn."""
    result = decode("]A3+A123BJC5D6E71")
    assert isinstance(result, Decoded)
    assert "hibc_check_stripped_by_scanner" in result.warnings


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("+A123BJC5D6E71H", "hibc_check_mismatch"),
        ("+1ABC12345" + hibc.check_character("+1ABC12345"), "hibc_lic_starts_with_digit"),
        ("+A123BJC5D6E7X" + hibc.check_character("+A123BJC5D6E7X"), "hibc_bad_unit"),
        ("+A1" + hibc.check_character("+A1"), "hibc_invalid"),
        ("+$$3231331LOT" + "G" + hibc.check_character("+$$3231331LOTG"), "hibc_bad_date"),
        ("+a123bjc5d6e71G", "hibc_bad_character"),
    ],
)
def test_bad_hibc_labels_are_rejected_with_a_reason(label: str, reason: str) -> None:
    """Wrong check, a LIC starting with a digit, a non-digit unit, bad dates are refused."""
    result = decode(label)
    assert isinstance(result, Rejected), result
    assert result.reason == reason and result.message


def test_secondary_pairs_only_with_the_primary_it_links_to() -> None:
    """A separate secondary pairs when its link character equals the primary's check."""
    primary = hibc.parse("+A123BJC5D6E71G")
    assert hibc.pairs(primary, hibc.parse("+$$52001510X3GD"))
    other = "+$$52001510X3H"
    mismatched = hibc.parse(other + hibc.check_character(other))
    assert not hibc.pairs(primary, mismatched)


alnum = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=13)


@given(
    lic=st.from_regex(r"[A-Z][A-Z0-9]{3}", fullmatch=True),
    pcn=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=18),
    uom=st.integers(0, 9),
    lot=alnum,
    serial=st.none() | alnum,
    julian=st.tuples(st.integers(0, 99), st.integers(1, 365)),
)
def test_random_valid_parts_round_trip(
    lic: str, pcn: str, uom: int, lot: str, serial: str | None, julian: tuple[int, int]
) -> None:
    """Any concatenated label built from valid parts parses back to exactly those parts."""
    date = f"{julian[0]:02d}{julian[1]:03d}"
    body = f"+{lic}{pcn}{uom}/$$5{date}{lot}" + (f"/S{serial}" if serial else "")
    label = hibc.parse(body + hibc.check_character(body))
    assert (label.lic, label.pcn, label.unit_of_measure) == (lic, pcn, str(uom))
    assert label.secondary["lot"] == lot
    assert label.secondary.get("serial") == serial
