"""The pure reconcile rules, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from hub.domain.bowie_dick import bowie_dick_missing, is_prevac
from hub.domain.changes import Alert, CycleField
from hub.domain.facts import CycleFacts, LoadFacts, Policy, Scan, SessionView, View
from hub.domain.folds import checklist, gs1_date
from hub.domain.rules import (
    cycle_status,
    decide,
    tray_short,
    unsafe_use,
)


def _cycle(
    n: int, cycle_type: str | None = "prevac", result: str | None = "pass", cancelled: bool = False
) -> CycleFacts:
    """Cycle ``n`` of a day: started at key 2n, completed at 2n + 1."""
    return CycleFacts(
        f"load-{n}", cycle_type, f"k{2 * n:02d}", f"k{2 * n + 1:02d}", result, cancelled
    )


def test_the_first_load_of_the_day_with_no_bowie_dick_is_flagged() -> None:
    """On a prevacuum sterilizer the day's first load, with no Bowie-Dick before it, is."""
    first = _cycle(1)
    assert bowie_dick_missing(first, [first], prevac=True)


def test_a_passing_bowie_dick_before_the_first_load_clears_it() -> None:
    """A Bowie-Dick test that passed before the load started clears the load."""
    bd, first = _cycle(1, "bowie-dick"), _cycle(2)
    assert not bowie_dick_missing(first, [bd, first], prevac=True)


@pytest.mark.parametrize(
    "bd",
    [_cycle(1, "bowie-dick", result="fail"), _cycle(3, "bowie-dick"), _cycle(1, "bd", None)],
    ids=["failed", "after_the_load", "never_completed"],
)
def test_a_bowie_dick_that_did_not_pass_before_the_load_does_not_clear_it(
    bd: CycleFacts,
) -> None:
    """A failed, later or unfinished Bowie-Dick test leaves the first load flagged."""
    first = _cycle(2)
    assert bowie_dick_missing(first, [bd, first], prevac=True)


def test_only_the_first_load_of_the_day_is_flagged() -> None:
    """The second load of a day with no Bowie-Dick is not flagged again."""
    first, second = _cycle(1), _cycle(2)
    assert not bowie_dick_missing(second, [first, second], prevac=True)


def test_a_cancelled_load_is_not_the_first_load() -> None:
    """A cancelled start is neither flagged nor counts as the day's first load."""
    cancelled, first = _cycle(1, cancelled=True), _cycle(2)
    assert not bowie_dick_missing(cancelled, [cancelled, first], prevac=True)
    assert bowie_dick_missing(first, [cancelled, first], prevac=True)


@pytest.mark.parametrize("test_type", ["bowie-dick", "leak"])
def test_the_tests_themselves_are_not_loads(test_type: str) -> None:
    """A Bowie-Dick or leak test is never flagged and is not the day's first load."""
    leak, first = _cycle(1, test_type, result="fail"), _cycle(2)
    assert not bowie_dick_missing(leak, [leak, first], prevac=True)
    assert bowie_dick_missing(first, [leak, first], prevac=True)


def test_a_gravity_sterilizer_needs_no_bowie_dick() -> None:
    """A sterilizer that is not prevacuum is never flagged."""
    first = _cycle(1, "gravity")
    assert not bowie_dick_missing(first, [first], prevac=False)


@pytest.mark.parametrize(
    ("result", "bi", "implant", "status"),
    [
        ("pass", None, False, "released"),
        ("pass", None, True, "quarantined"),
        ("pass", "pass", True, "released"),
        ("pass", "fail", False, "quarantined"),
        ("fail", None, True, "failed"),
        (None, None, True, "open"),
    ],
)
def test_an_implant_load_is_released_only_by_a_passing_bi(
    result: str | None, bi: str | None, implant: bool, status: str
) -> None:
    """A passed cycle releases a load, unless it holds an implant whose BI has not passed."""
    assert cycle_status(result, bi, False, implant) == status


@pytest.mark.parametrize(
    ("field", "read"),
    [
        ("271231", date(2027, 12, 31)),
        ("261100", date(2026, 11, 30)),  # day 00: the month's last day
        ("240200", date(2024, 2, 29)),
        ("261301", None),
        ("260231", None),
        ("2612", None),
        ("26AB01", None),
    ],
)
def test_a_gs1_date_is_read_with_day_00_as_the_months_last(field: str, read: date | None) -> None:
    """YYMMDD reads as 20YY; day 00 is the last day of the month; anything else is None."""
    assert gs1_date(field) == read


def test_the_second_person_rule_flags_a_release_by_the_loads_own_operator() -> None:
    """With second-person release on, the load's operator (or no badge) releasing it
    raises same_person_release; another badge, or the policy off, does not."""
    load = SessionView("load-1", "load", "site:STE-A1", "open", operator="site:USR-ANA")
    on = Policy(second_person_release=True)

    def close(operator: str | None, policy: Policy) -> list[str]:
        scan = Scan(
            key="k9",
            at=datetime(2026, 11, 20, tzinfo=UTC),
            agent_id="pi-ste",
            kind="command",
            code="site:CMD-CYCLE-PASS",
            kept=True,
            action="close",
            session_id="load-1",
            target="pass",
            operator=operator,
        )
        return [c.kind for c in decide(scan, View(load), policy) if isinstance(c, Alert)]

    assert close("site:USR-ANA", on) == ["same_person_release"]
    assert close(None, on) == ["same_person_release"]
    assert close("site:USR-BEN", on) == []
    assert close("site:USR-ANA", Policy()) == []


@pytest.mark.parametrize(
    ("status", "load", "alerted"),
    [
        (None, None, False),
        ("sterile", LoadFacts("L1", "site:STE-A1", "released"), False),
        ("sterile", LoadFacts("L1", "site:STE-A1", "failed"), True),
        ("processing", LoadFacts("L1", "site:STE-A1", "open"), True),
        ("sterile", LoadFacts("L1", "site:STE-A1", "quarantined"), True),
        ("quarantined", None, True),
        ("dirty", None, False),
    ],
)
def test_a_use_is_unsafe_from_an_unreleased_load_or_when_quarantined(
    status: str | None, load: LoadFacts | None, alerted: bool
) -> None:
    """A use alerts (high, naming the load) when the item's last load is not released, or
    the item is quarantined; otherwise it does not."""
    found = unsafe_use("site:INS-1", status, load)
    assert (found is not None) == alerted
    if found is not None:
        assert found.severity == "high" and found.kind == "unsafe_use"
        assert load is None or load.session_id in found.detail


def test_a_tray_short_of_its_count_sheet_names_what_is_missing() -> None:
    """A short checklist alerts with each missing line; a complete one does not."""
    short = tray_short("site:TRY-7", checklist(["a"], {}, {"a": 1, "b": 2}))
    assert short is not None and short.detail == "tray site:TRY-7 closed short: 2× b"
    assert tray_short("site:TRY-7", checklist(["a"], {}, {"a": 1})) is None


def _field_scan(action: str, target: str | None, kind: str | None = None) -> Scan:
    at = datetime(2026, 11, 20, tzinfo=UTC)
    code = f"site:{target}" if kind == "staff" else None
    return Scan("k9", at, "hub", kind, code, True, action, "load-1", "load", target)


@pytest.mark.parametrize("status", ["open", "closed"])
def test_a_load_field_is_taken_whether_the_load_is_open_or_closed(status: str) -> None:
    """An exposure for an open load and one entered after it closed both set the field."""
    load = SessionView("load-1", "load", "site:STE-A1", status)
    assert decide(_field_scan("exposure", "4"), View(load)) == [
        CycleField("load-1", "exposure_min", "4")
    ]


def test_a_load_field_for_a_cancelled_load_or_no_load_is_an_impossible_sequence() -> None:
    """A cancelled load, a tray session and no session at all take no field: each alerts."""
    for session in (
        SessionView("load-1", "load", "site:STE-A1", "cancelled"),
        SessionView("tray-1", "tray", "site:TRY-1", "open"),
        None,
    ):
        (alert,) = decide(_field_scan("exposure", "4"), View(session))
        assert isinstance(alert, Alert) and alert.kind == "impossible_sequence"


def test_a_releaser_is_a_badge_and_a_second_person_where_the_site_asks() -> None:
    """A badge entered as releaser sets released_by; the load's own operator raises
    same_person_release under second-person release; a non-badge is refused."""
    load = SessionView("load-1", "load", "site:STE-A1", "closed", operator="site:USR-ANA")
    policy = Policy(second_person_release=True)
    ben = decide(_field_scan("releaser", "USR-BEN", "staff"), View(load), policy)
    assert ben == [CycleField("load-1", "released_by", "site:USR-BEN")]
    ana = decide(_field_scan("releaser", "USR-ANA", "staff"), View(load), policy)
    assert ana[0] == CycleField("load-1", "released_by", "site:USR-ANA")
    assert isinstance(ana[1], Alert) and ana[1].kind == "same_person_release"
    (refused,) = decide(_field_scan("releaser", "INS-1", "instrument"), View(load))
    assert isinstance(refused, Alert) and refused.kind == "impossible_sequence"


def test_an_implant_load_waits_for_its_bi_unless_released_early_and_a_failed_bi_still_holds() -> (
    None
):
    """Passed, implant, BI pending: quarantined; released early: released; BI passed:
    released; a failed BI quarantines even an early-released load."""
    assert cycle_status("pass", None, False, implant=True) == "quarantined"
    assert cycle_status("pass", None, False, implant=True, early_release=True) == "released"
    assert cycle_status("pass", "pass", False, implant=True) == "released"
    assert cycle_status("pass", "fail", False, implant=True, early_release=True) == "quarantined"


def test_a_sterilizer_is_prevac_by_its_registration_or_by_the_cycle_it_runs() -> None:
    """Registered with a prevac type, or an unregistered one running a prevac cycle."""
    assert is_prevac(["gravity", "prevac"], None)
    assert is_prevac([], "prevac")
    assert not is_prevac(["gravity"], "gravity")
