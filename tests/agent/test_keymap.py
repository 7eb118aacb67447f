"""The keymap decoder fed real evdev.InputEvent sequences."""

from __future__ import annotations

from evdev import InputEvent, ecodes
from hypothesis import given
from hypothesis import strategies as st

from agent.decode import Read
from agent.decode.keymap import KeymapDecoder
from tests.harness.keyboard import Keyboard

E = ecodes


def decode(events: list[InputEvent], layout: str = "us", **kw: object) -> list[object]:
    decoder = KeymapDecoder(layout, **kw)  # type: ignore[arg-type]
    frames: list[object] = []
    for event in events:
        frames.extend(decoder.feed(event))
    return frames


def test_plain_code_with_enter() -> None:
    """Digits, letters and '-' typed then Enter make one read."""
    assert decode(Keyboard().type("INS-1001").enter().events) == [Read("INS-1001")]


def test_left_and_right_shift_both_shift() -> None:
    """Right Shift selects capitals and symbols like left Shift does."""
    kb = (
        Keyboard()
        .tap(E.KEY_A, E.KEY_RIGHTSHIFT)
        .tap(E.KEY_B, E.KEY_LEFTSHIFT)
        .tap(E.KEY_4, E.KEY_RIGHTSHIFT)
    )
    assert decode(kb.enter().events) == [Read("AB$")]


def test_capslock_inverts_letters_only() -> None:
    """With CapsLock on, letters come out upper-case, Shift makes them lower, digits unchanged."""
    kb = Keyboard().tap(E.KEY_CAPSLOCK).tap(E.KEY_A).tap(E.KEY_B, E.KEY_LEFTSHIFT).tap(E.KEY_1)
    kb.tap(E.KEY_CAPSLOCK).tap(E.KEY_C)
    assert decode(kb.enter().events) == [Read("Ab1c")]


def test_ctrl_right_bracket_is_group_separator() -> None:
    """Ctrl+] is typed as GS (0x1D), the GS1 separator."""
    kb = Keyboard().type("10LOT7").tap(E.KEY_RIGHTBRACE, E.KEY_LEFTCTRL).type("21SN9").enter()
    assert decode(kb.events) == [Read("10LOT7\x1d21SN9")]


def test_alt_keypad_code_enters_group_separator() -> None:
    """Alt held with keypad 0-2-9 enters GS, as scanners in 'Alt mode' send it."""
    kb = Keyboard().type("10A").press(E.KEY_LEFTALT)
    kb.tap(E.KEY_KP0).tap(E.KEY_KP2).tap(E.KEY_KP9).release(E.KEY_LEFTALT)
    assert decode(kb.type("21B").enter().events) == [Read("10A\x1d21B")]


def test_german_layout_swaps_y_and_z_and_moves_symbols() -> None:
    """On a DE board the Y key position types 'z' and Shift+7 types '/'."""
    kb = Keyboard().tap(E.KEY_Y, E.KEY_LEFTSHIFT).tap(E.KEY_Z, E.KEY_LEFTSHIFT)
    kb.tap(E.KEY_7, E.KEY_LEFTSHIFT).tap(E.KEY_SLASH).tap(E.KEY_RIGHTBRACE)
    assert decode(kb.enter().events, "de") == [Read("ZY/-+")]


def test_german_altgr_brackets() -> None:
    """AltGr+8 and AltGr+9 type '[' and ']' on a DE board (the AIM prefix needs ']')."""
    kb = Keyboard().tap(E.KEY_9, E.KEY_RIGHTALT).type("d2", "de").enter()
    assert decode(kb.events, "de") == [Read("]d2")]


def test_french_layout_types_digits_with_shift() -> None:
    """On an AZERTY board digits need Shift and the A key position types 'q'."""
    kb = Keyboard().tap(E.KEY_1, E.KEY_LEFTSHIFT).tap(E.KEY_A).tap(E.KEY_Q).tap(E.KEY_SEMICOLON)
    assert decode(kb.enter().events, "fr") == [Read("1qam")]


def test_uk_layout_shift_two_is_a_double_quote() -> None:
    """On a UK board Shift+2 is '\"' and Shift+' is '@'."""
    kb = Keyboard().tap(E.KEY_2, E.KEY_LEFTSHIFT).tap(E.KEY_APOSTROPHE, E.KEY_LEFTSHIFT)
    assert decode(kb.enter().events, "uk") == [Read('"@')]


def test_syn_dropped_discards_partial_code_and_counts_it() -> None:
    """After SYN_DROPPED the corrupt code is gone, counted, and the next code reads whole."""
    kb = Keyboard().type("INS-10").dropped()
    kb.type("XX").enter()  # the rest of the corrupt code, up to its Enter, is discarded
    decoder = KeymapDecoder()
    frames = []
    for event in kb.events:
        frames.extend(decoder.feed(event))
    for event in Keyboard().type("INS-2").enter().events:
        frames.extend(decoder.feed(event))
    assert frames == [Read("INS-2")]
    assert decoder.dropped == 1


def test_tab_terminator_and_timeout_terminator() -> None:
    """Tab can end a read; in timeout mode a pause ends it."""
    kb = Keyboard().type("TRY-1").tap(E.KEY_TAB)
    assert decode(kb.events, terminator="tab") == [Read("TRY-1")]
    decoder = KeymapDecoder(terminator="timeout", idle_timeout_s=0.05)
    for event in Keyboard().type("TRY-2").events:
        assert decoder.feed(event) == []
    assert decoder.flush(kb.t + 10) == [Read("TRY-2")]


def test_keys_without_a_character_are_counted_not_typed() -> None:
    """F-keys and the like do not reach the read."""
    decoder = KeymapDecoder()
    frames = []
    for event in Keyboard().type("A").tap(E.KEY_F5).type("B").enter().events:
        frames.extend(decoder.feed(event))
    assert frames == [Read("AB")] and decoder.unknown_keys == 1


@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-./+$% ", min_size=1, max_size=40))
def test_any_us_typed_code_round_trips(text: str) -> None:
    """Whatever a US scanner types, the decoder reads back exactly."""
    assert decode(Keyboard().type(text).enter().events) == [Read(text)]


def test_after_syn_dropped_a_pause_resumes_reading_even_if_enter_was_lost() -> None:
    """If the corrupt code's Enter was lost too, the pause before the next scan resumes reading."""
    kb = Keyboard().type("INS-10").dropped()
    kb.t += 1.0  # the person scans the next label a second later
    kb.type("INS-3").enter()
    assert decode(kb.events) == [Read("INS-3")]
