"""The station: for each read, what the person is told, what is recorded, and the next state.

Pure: a state and a read in, a verdict and the next state out. The intake thread commits
the scan and the new state together; feedback is shown only after that commit.

Rules (DESIGN.md §5; docs/stations.md has the barcode sheet):
1. A read that is empty after stripping CR, LF and TAB is refused and not recorded.
2. Every other read is recorded, refused or not, so an operator can see what happened.
   Only ``kept`` scans change the state or count at the hub.
3. A read the decoder rejects is ``bad_read``; a label no rule knows is ``unknown_label``.
4. A badge logs in (any mode, any time). ``CMD-LOGOUT`` logs out. Where a badge is
   required, every other scan is refused ``badge_first`` until one is scanned, and the
   operator is logged out after ``idle_logout_s`` without a scan (or by a reboot).
5. ``CMD-CANCEL`` abandons the open session. ``CMD-MODE-<MODE>`` switches mode where the
   station allows it, and only with no session open.
6. Per mode, a session opens and closes like this; a second scan of the same code in
   one session is refused ``duplicate`` (double reads, CR+LF doubling):
   - sterilizer: the sterilizer's label ``STE-x`` opens a load; instruments and trays join
     it; ``STE-x.<cycle>`` records the cycle number, ``CMD-TYPE-<t>`` the cycle type;
     ``CMD-CYCLE-PASS`` / ``CMD-CYCLE-FAIL`` closes it. While it is open,
     ``CMD-EXPOSURE-<min>``, ``CMD-TEMP-<°C>`` and ``CMD-CI-PASS`` / ``CMD-CI-FAIL`` fill
     in the load record, and ``CMD-BI-LABEL`` then the BI's GS1 label records its lot and
     expiry. With no load open, a cycle label selects that cycle and ``CMD-BI-PASS`` /
     ``CMD-BI-FAIL`` records its biological indicator.
   - tray_assembly: a tray opens; instruments join; ``CMD-COMPLETE`` closes.
   - point_of_use: a case opens and the next case replaces it; instruments and trays are
     used; after ``CMD-RETURN`` they are returned; ``CMD-COND-<c>`` sets the condition of
     the next item; ``CMD-DONE`` closes.
   - asset_move: an asset opens, more assets join, a location closes (they all move).
   - equipment_checkout: a patient opens (the next patient replaces); an asset is lent to
     the patient; an asset with no patient open, or after ``CMD-RETURN``, is returned;
     ``CMD-CLEANED`` then an asset makes it available again; ``CMD-DONE`` closes.
   - at both asset stations, ``CMD-STATUS-<STATUS>`` or ``CMD-INSPECT-PASS`` /
     ``CMD-INSPECT-FAIL`` then an asset sets its status or records its inspection.
7. A scan that fits none of these is refused with the reason (``no_session``,
   ``session_open``, ``not_here``, ``not_allowed``, ``unknown_command``) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from agent.catalog import Catalog
from agent.session import Instant, Session, StationState
from protocol.barcodes import Decoded, DecodeRules, Kind, Rejected, decode
from protocol.messages import MAX_RAW_CHARS, Reading, ScanContext
from protocol.vocabulary import (
    CONDITION_PREFIX,
    EXPOSURE_PREFIX,
    MODE_PREFIX,
    STATUS_PREFIX,
    TEMPERATURE_PREFIX,
    TYPE_PREFIX,
    Action,
    AssetStatus,
    Command,
    Mode,
    Outcome,
    SessionKind,
)

_TRAILING = "\r\n\t"
MODES = tuple(Mode)
_ITEMS = frozenset({Kind.INSTRUMENT, Kind.TRAY, Kind.PRODUCT})
_SESSION_NOUN = {"load": "load", "tray": "tray", "case": "case", "move": "move", "patient": "loan"}


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    message: str
    raw: str
    context: ScanContext
    reading: Reading | None
    state: StationState
    joined: str | None = None  # the item this scan added to the open session, if any

    @property
    def record(self) -> bool:
        """Whether the read is committed to the outbox (kept or kept-for-review)."""
        return self.outcome is not Outcome.EMPTY


@dataclass(frozen=True)
class _Step:
    """One rule's answer: the outcome, and for a kept scan its action and next state."""

    outcome: Outcome
    message: str
    state: StationState | None = None
    action: str | None = None
    target: str | None = None
    condition: str | None = None
    joined: str | None = None


def _is_number(text: str) -> bool:
    """A measured value on a command label: digits, with at most one decimal point."""
    whole, _, fraction = text.partition(".")
    return whole.isdigit() and (fraction == "" or fraction.isdigit()) and len(text) <= 8


def _refuse(outcome: Outcome, message: str) -> _Step:
    return _Step(outcome, message)


def _label(key: str) -> str:
    return key.split(":", 1)[1] if key.startswith("site:") else key


def _advise(
    step: _Step, state: StationState, read: Decoded, catalog: Catalog
) -> tuple[_Step, tuple[str, ...]]:
    """A kept use of a blocked item becomes ``blocked`` (the session does not take it); a
    kept tray item the catalogue questions keeps its place, with the reason on screen."""
    session = state.session
    if step.action == Action.USE:
        advice = catalog.at_use(read.key)
        if advice.blocked is not None:
            message = f"STOP: do not use {_label(read.key)}: {advice.blocked}."
            return _Step(Outcome.BLOCKED, message, action=Action.USE), ("blocked",)
    elif step.action == Action.ADD and session is not None and session.kind == SessionKind.TRAY:
        advice = catalog.at_tray(session.key, read.key)
    else:
        return step, ()
    if advice.notes:
        step = replace(step, message=f"{step.message} — check: {'; '.join(advice.notes)}")
    return step, advice.warnings


def _named(step: _Step, key: str, catalog: Catalog) -> _Step:
    """The scanned code on the screen as the department says it ("INS-1041 Scalpel handles
    no. 41", "Hello, Ana Ruiz"), where the snapshot knows its name."""
    code = _label(key)
    shown = catalog.shown(key, code)
    if shown == code or code not in step.message:
        return step
    return replace(step, message=step.message.replace(code, shown, 1))


@dataclass(frozen=True)
class Station:
    name: str
    mode: str
    rules: DecodeRules
    badge_required: bool = False
    idle_logout_s: float = 0.0  # 0: never
    allow_mode_change: bool = False

    def initial(self) -> StationState:
        return StationState(mode=self.mode)

    def restore(self, saved: StationState | None, boot_id: str) -> StationState:
        """The state after a restart: the session survives; a login does not survive a reboot."""
        if saved is None or (saved.mode != self.mode and not self.allow_mode_change):
            return self.initial()
        if saved.boot_id != boot_id:
            return replace(saved, operator=None, boot_id=boot_id, active_ns=0)
        return saved

    def current(self, state: StationState, now: Instant) -> StationState:
        """``state`` with the idle logout applied."""
        if state.operator is None or self.idle_logout_s <= 0:
            return state
        idle_ns = now.monotonic_ns - state.active_ns
        if state.boot_id != now.boot_id or idle_ns > self.idle_logout_s * 1e9:
            return replace(state, operator=None)
        return state

    def refuse(self, state: StationState, reason: str, text: str, now: Instant) -> Verdict:
        """A read the framing layer already knows is bad (garbage bytes, runaway line)."""
        state = self.current(state, now)
        reading = Reading(kind="rejected", warnings=(reason,), outcome=Outcome.BAD_READ.value)
        message = f"Bad read ({reason.replace('_', ' ')}). Scan again."
        raw = text[:MAX_RAW_CHARS]
        return Verdict(Outcome.BAD_READ, message, raw, self._context(state), reading, state)

    def consider(
        self,
        state: StationState,
        text: str,
        now: Instant,
        event_id: str,
        catalog: Catalog | None = None,
    ) -> Verdict:
        """``catalog``: the hub's reference snapshot, when the station has one."""
        state = self.current(state, now)
        raw = text.rstrip(_TRAILING)[:MAX_RAW_CHARS]
        result = decode(text, self.rules)
        if isinstance(result, Rejected):
            if result.reason == "empty":
                message = "Nothing was read. Scan again."
                return Verdict(Outcome.EMPTY, message, raw, self._context(state), None, state)
            reading = Reading(
                kind="rejected",
                symbology=result.symbology,
                warnings=(result.reason,),
                outcome=Outcome.BAD_READ.value,
            )
            message = f"Bad read: {result.message}. Scan again."
            return Verdict(Outcome.BAD_READ, message, raw, self._context(state), reading, state)
        if result.kind is Kind.UNKNOWN:
            step = _refuse(Outcome.UNKNOWN_LABEL, "Unknown label: not a known code.")
        else:
            step = self._step(state, result, event_id)
        advised: tuple[str, ...] = ()
        if catalog is not None and step.outcome is Outcome.KEPT:
            step, advised = _advise(step, state, result, catalog)
        if catalog is not None:
            step = _named(step, result.key, catalog)
        after = state
        if step.state is not None:
            after = replace(step.state, boot_id=now.boot_id, active_ns=now.monotonic_ns)
        reading = Reading(
            kind=result.kind.value,
            key=result.key[:MAX_RAW_CHARS],
            symbology=result.symbology,
            warnings=result.warnings + advised,
            outcome=step.outcome.value,
        )
        message = step.message
        if step.outcome is Outcome.KEPT and result.warnings:
            message += f" (warning: {', '.join(result.warnings)})"
        # The context is what the person saw: an opening scan belongs to its new session,
        # every other scan to the session that was open, and a login to its new operator.
        session = after.session if step.action == Action.OPEN else state.session
        context = ScanContext(
            station=self.name,
            mode=state.mode,
            operator=after.operator or state.operator,
            session_id=session.id if session else None,
            session_kind=session.kind if session else None,
            action=step.action,
            target=step.target,
            condition=step.condition,
        )
        return Verdict(step.outcome, message, raw, context, reading, after, step.joined)

    def _context(self, state: StationState) -> ScanContext:
        session = state.session
        return ScanContext(
            station=self.name,
            mode=state.mode,
            operator=state.operator,
            session_id=session.id if session else None,
            session_kind=session.kind if session else None,
        )

    # -- rules common to every mode ---------------------------------------------------------

    def _step(self, state: StationState, read: Decoded, event_id: str) -> _Step:
        command = read.fields.get("command", "").upper() if read.kind is Kind.COMMAND else ""
        if read.kind is Kind.STAFF:
            after = replace(state, operator=read.key)
            return _Step(Outcome.KEPT, f"Hello, {_label(read.key)}", after, Action.LOGIN)
        if command == Command.LOGOUT:
            return _Step(Outcome.KEPT, "Logged out", replace(state, operator=None), Action.LOGOUT)
        if self.badge_required and state.operator is None:
            return _refuse(Outcome.BADGE_FIRST, "Scan your badge first.")
        if command.startswith(MODE_PREFIX):
            return self._change_mode(state, command.removeprefix(MODE_PREFIX))
        if command == Command.CANCEL:
            if state.session is None:
                return _refuse(Outcome.NO_SESSION, "Nothing to cancel.")
            noun = _SESSION_NOUN[state.session.kind]
            after = replace(state, session=None, armed=None)
            return _Step(Outcome.KEPT, f"{noun.capitalize()} cancelled", after, Action.CANCEL)
        by_mode: dict[str, Callable[[StationState, Decoded, str, str], _Step]] = {
            Mode.STERILIZER: self._sterilizer,
            Mode.TRAY_ASSEMBLY: self._tray_assembly,
            Mode.POINT_OF_USE: self._point_of_use,
            Mode.ASSET_MOVE: self._asset_move,
            Mode.EQUIPMENT_CHECKOUT: self._equipment_checkout,
        }
        return by_mode[state.mode](state, read, command, event_id)

    def _change_mode(self, state: StationState, wanted: str) -> _Step:
        mode = wanted.lower().replace("-", "_")
        if not self.allow_mode_change:
            return _refuse(Outcome.NOT_ALLOWED, "This station cannot change mode.")
        if mode not in MODES:
            return _refuse(Outcome.UNKNOWN_COMMAND, f"Unknown mode {wanted}.")
        if state.session is not None:
            noun = _SESSION_NOUN[state.session.kind]
            return _refuse(Outcome.SESSION_OPEN, f"Finish or cancel the open {noun} first.")
        after = replace(state, mode=mode, armed=None)
        return _Step(Outcome.KEPT, f"Mode: {mode.replace('_', ' ')}", after, Action.MODE, mode)

    @staticmethod
    def _open(state: StationState, event_id: str, kind: str, key: str, msg: str) -> _Step:
        session = Session(id=event_id, kind=kind, key=key, items=frozenset({key}))
        after = replace(state, session=session, armed=None)
        return _Step(Outcome.KEPT, msg, after, Action.OPEN, joined=key)

    @staticmethod
    def _add(state: StationState, key: str, action: str, noun: str) -> _Step:
        session = state.session
        assert session is not None
        item = key if action == Action.ADD else f"{action}:{key}"
        if item in session.items:
            return _refuse(Outcome.DUPLICATE, f"Already scanned in this {noun}.")
        session = session.with_item(item)
        count = len(session.items) - 1
        after = replace(state, session=session)
        message = f"{_label(key)} — {count} in {noun}"
        return _Step(Outcome.KEPT, message, after, action, joined=item)

    @staticmethod
    def _return_phase(state: StationState, session: Session) -> _Step:
        after = replace(state, session=replace(session, phase="return"))
        return _Step(Outcome.KEPT, "Returning: scan each item", after, Action.RETURN_PHASE)

    @staticmethod
    def _close(state: StationState, message: str, target: str | None = None) -> _Step:
        return _Step(Outcome.KEPT, message, replace(state, session=None), Action.CLOSE, target)

    # -- one method per mode ----------------------------------------------------------------

    def _sterilizer(self, state: StationState, read: Decoded, command: str, eid: str) -> _Step:
        load = state.session
        if read.kind is Kind.STERILIZER:
            sterilizer, _, cycle = read.key.rpartition(".")
            if not (sterilizer and cycle.isdigit()):
                sterilizer, cycle = read.key, ""
            if load is None and not cycle:
                return self._open(
                    state, eid, SessionKind.LOAD, sterilizer, f"Load on {_label(sterilizer)}"
                )
            if load is None:
                after = replace(state, armed=f"bi:{read.key}")
                message = f"Cycle {cycle} selected: scan CMD-BI-PASS or CMD-BI-FAIL"
                return _Step(Outcome.KEPT, message, after, Action.SELECT, read.key)
            if load.key != sterilizer:
                return _refuse(Outcome.SESSION_OPEN, f"A load on {_label(load.key)} is open.")
            if not cycle:
                return _refuse(Outcome.DUPLICATE, "This load is already open.")
            return _Step(Outcome.KEPT, f"Cycle number {cycle}", state, Action.CYCLE_NUMBER, cycle)
        if read.kind in _ITEMS and load is not None and state.armed == "bi_label":
            return self._bi_label(state, read)
        if read.kind in _ITEMS:
            if load is None:
                return _refuse(Outcome.NO_SESSION, "Scan the sterilizer first to start a load.")
            return self._add(state, read.key, Action.ADD, "load")
        if (step := self._load_field(state, command)) is not None:
            return step if load is not None else _refuse(Outcome.NO_SESSION, "No load is open.")
        if command in (Command.CYCLE_PASS, Command.CYCLE_FAIL):
            if load is None:
                return _refuse(Outcome.NO_SESSION, "No load is open.")
            result = command.removeprefix("CYCLE-").lower()
            count = len(load.items) - 1
            return self._close(state, f"Load {result.upper()} — {count} items", result)
        if command.startswith(TYPE_PREFIX) and len(command) > len(TYPE_PREFIX):
            if load is None:
                return _refuse(Outcome.NO_SESSION, "No load is open.")
            cycle_type = command.removeprefix(TYPE_PREFIX).lower()
            return _Step(
                Outcome.KEPT, f"Cycle type {cycle_type}", state, Action.CYCLE_TYPE, cycle_type
            )
        if command in (Command.BI_PASS, Command.BI_FAIL):
            if state.armed is None or not state.armed.startswith("bi:"):
                return _refuse(Outcome.NO_SESSION, "Scan the cycle label first.")
            result = command.removeprefix("BI-").lower()
            message = f"Biological indicator {result.upper()}"
            after = replace(state, armed=None)
            return _Step(Outcome.KEPT, message, after, Action.BI_RESULT, state.armed[3:], result)
        return self._elsewhere(read, command)

    @staticmethod
    def _load_field(state: StationState, command: str) -> _Step | None:
        """The load record's commands (AAMI ST79), while a load is open; None if not one."""
        if command in (Command.CI_PASS, Command.CI_FAIL):
            result = command.removeprefix("CI-").lower()
            message = f"Chemical indicator {result.upper()}"
            return _Step(Outcome.KEPT, message, state, Action.CI_RESULT, result)
        if command == Command.BI_LABEL:
            after = replace(state, armed="bi_label")
            message = "Scan the biological indicator's label"
            return _Step(Outcome.KEPT, message, after, Action.BI_LABEL_NEXT)
        for prefix, action, unit in (
            (EXPOSURE_PREFIX, Action.EXPOSURE, "min"),
            (TEMPERATURE_PREFIX, Action.TEMPERATURE, "°C"),
        ):
            if command.startswith(prefix):
                value = command.removeprefix(prefix)
                if not _is_number(value):
                    return _refuse(Outcome.UNKNOWN_COMMAND, f"{command} needs a number.")
                return _Step(Outcome.KEPT, f"{value} {unit}", state, action, value)
        return None

    @staticmethod
    def _bi_label(state: StationState, read: Decoded) -> _Step:
        """The BI's GS1 label after CMD-BI-LABEL: it must carry a lot (10) and expiry (17)."""
        if "10" not in read.fields or "17" not in read.fields:
            message = "This is not a BI label with a lot and expiry. Scan the BI's label."
            return _refuse(Outcome.NOT_HERE, message)
        after = replace(state, armed=None)
        message = f"BI lot {read.fields['10']}, expires {read.fields['17']}"
        return _Step(Outcome.KEPT, message, after, Action.BI_LABEL)

    def _tray_assembly(self, state: StationState, read: Decoded, command: str, eid: str) -> _Step:
        tray = state.session
        if read.kind is Kind.TRAY:
            if tray is None:
                return self._open(
                    state, eid, SessionKind.TRAY, read.key, f"Tray {_label(read.key)}"
                )
            if tray.key == read.key:
                return _refuse(Outcome.DUPLICATE, "This tray is already open.")
            return _refuse(Outcome.SESSION_OPEN, f"Tray {_label(tray.key)} is still open.")
        if read.kind in (Kind.INSTRUMENT, Kind.PRODUCT):
            if tray is None:
                return _refuse(Outcome.NO_SESSION, "Scan the tray first.")
            return self._add(state, read.key, Action.ADD, "tray")
        if command == Command.COMPLETE:
            if tray is None:
                return _refuse(Outcome.NO_SESSION, "No tray is open.")
            return self._close(state, f"Tray complete — {len(tray.items) - 1} items")
        return self._elsewhere(read, command)

    def _point_of_use(self, state: StationState, read: Decoded, command: str, eid: str) -> _Step:
        case = state.session
        if read.kind is Kind.CASE:
            if case is not None and case.key == read.key:
                return _refuse(Outcome.DUPLICATE, "This case is already open.")
            return self._open(state, eid, SessionKind.CASE, read.key, f"Case {_label(read.key)}")
        if read.kind in _ITEMS:
            if case is None:
                return _refuse(Outcome.NO_SESSION, "Scan the case first.")
            action = Action.RETURN if case.phase == "return" else Action.USE
            step = self._add(state, read.key, action, "case")
            condition = None
            if step.state is not None and state.armed and state.armed.startswith("cond:"):
                condition = state.armed[5:]
                step = replace(step, state=replace(step.state, armed=None))
            return replace(step, condition=condition)
        if command in (Command.RETURN, Command.DONE) or command.startswith(CONDITION_PREFIX):
            if case is None:
                return _refuse(Outcome.NO_SESSION, "No case is open.")
            if command == Command.RETURN:
                return self._return_phase(state, case)
            if command == Command.DONE:
                return self._close(state, f"Case {_label(case.key)} done")
            condition = command.removeprefix(CONDITION_PREFIX).lower()
            after = replace(state, armed=f"cond:{condition}")
            return _Step(
                Outcome.KEPT, f"Next item: {condition}", after, Action.CONDITION, condition
            )
        return self._elsewhere(read, command)

    @staticmethod
    def _asset_care(state: StationState, read: Decoded, command: str) -> _Step | None:
        """Status and inspection commands, at either asset station: the command arms, the
        next asset takes it. None when this scan is neither."""
        if command.startswith(STATUS_PREFIX):
            status = command.removeprefix(STATUS_PREFIX).lower().replace("-", "_")
            if status not in AssetStatus.__members__.values():
                return _refuse(Outcome.UNKNOWN_COMMAND, f"{command}: there is no such status.")
            after = replace(state, armed=f"status:{status}")
            return _Step(Outcome.KEPT, f"Scan the asset: {status}", after, Action.STATUS_NEXT)
        if command in (Command.INSPECT_PASS, Command.INSPECT_FAIL):
            result = command.removeprefix("INSPECT-").lower()
            after = replace(state, armed=f"inspect:{result}")
            message = f"Inspection {result.upper()}: scan the asset"
            return _Step(Outcome.KEPT, message, after, Action.INSPECT_NEXT)
        armed = state.armed or ""
        if read.kind is Kind.ASSET and armed.startswith(("status:", "inspect:")):
            what, _, value = armed.partition(":")
            action = Action.ASSET_STATUS if what == "status" else Action.INSPECTION
            after = replace(state, armed=None)
            return _Step(Outcome.KEPT, f"{_label(read.key)}: {value}", after, action, value)
        return None

    def _asset_move(self, state: StationState, read: Decoded, command: str, eid: str) -> _Step:
        if (care := self._asset_care(state, read, command)) is not None:
            return care
        move = state.session
        if read.kind is Kind.ASSET:
            if move is None:
                return self._open(
                    state, eid, SessionKind.MOVE, read.key, f"Moving {_label(read.key)}"
                )
            return self._add(state, read.key, Action.ADD, "move")
        if read.kind is Kind.LOCATION:
            if move is None:
                return _refuse(Outcome.NO_SESSION, "Scan the asset first, then the location.")
            count = len(move.items)
            message = f"{count} moved to {_label(read.key)}"
            return self._close(state, message, read.key)
        return self._elsewhere(read, command)

    def _equipment_checkout(
        self, state: StationState, read: Decoded, command: str, eid: str
    ) -> _Step:
        if (care := self._asset_care(state, read, command)) is not None:
            return care
        loan = state.session
        if read.kind is Kind.PATIENT:
            if loan is not None and loan.key == read.key:
                return _refuse(Outcome.DUPLICATE, "This patient is already open.")
            return self._open(
                state, eid, SessionKind.PATIENT, read.key, f"Patient {_label(read.key)}"
            )
        if read.kind is Kind.ASSET:
            if state.armed == "cleaned":
                after = replace(state, armed=None)
                return _Step(Outcome.KEPT, f"{_label(read.key)} available", after, Action.CLEANED)
            if loan is None or loan.phase == "return":
                message = f"{_label(read.key)} returned: needs cleaning"
                if loan is None:
                    return _Step(Outcome.KEPT, message, state, Action.RETURN)
                step = self._add(state, read.key, Action.RETURN, "loan")
                return replace(step, message=message) if step.outcome is Outcome.KEPT else step
            return self._add(state, read.key, Action.LOAN, "loan")
        if command == Command.CLEANED:
            after = replace(state, armed="cleaned")
            return _Step(Outcome.KEPT, "Scan the cleaned item", after, Action.CLEANED_NEXT)
        if command == Command.RETURN:
            if loan is None:
                return _Step(Outcome.KEPT, "Scan the returned item", state, Action.RETURN_PHASE)
            return self._return_phase(state, loan)
        if command == Command.DONE:
            if loan is None:
                return _refuse(Outcome.NO_SESSION, "No patient is open.")
            return self._close(state, f"Patient {_label(loan.key)} done")
        return self._elsewhere(read, command)

    @staticmethod
    def _elsewhere(read: Decoded, command: str) -> _Step:
        if read.kind is Kind.COMMAND:
            return _refuse(
                Outcome.UNKNOWN_COMMAND, f"Command {command or read.key} means nothing here."
            )
        return _refuse(Outcome.NOT_HERE, f"A {read.kind.value} cannot be scanned at this station.")
