"""Serial framing: every suffix, garbage, runaway lines, and reads split across chunks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.decode import BadRead, Read
from agent.decode.framing import MAX_BYTES, Framer, Suffix


@pytest.mark.parametrize(
    ("suffix", "stream"),
    [
        ("cr", b"INS-1\rINS-2\r"),
        ("lf", b"INS-1\nINS-2\n"),
        ("crlf", b"INS-1\r\nINS-2\r\n"),
        ("tab", b"INS-1\tINS-2\t"),
        ("cr", b"INS-1\r\nINS-2\r\n"),  # CR framing with a scanner that also sends LF
    ],
)
def test_each_suffix_ends_a_read(suffix: Suffix, stream: bytes) -> None:
    """Each supported suffix separates reads, and CR+LF never makes an empty extra read."""
    assert Framer(suffix).receive(stream, 0.0) == [Read("INS-1"), Read("INS-2")]


def test_a_read_split_across_chunks_is_joined() -> None:
    """Bytes arriving in pieces form one read."""
    framer = Framer("cr")
    assert framer.receive(b"INS-", 0.0) == []
    assert framer.receive(b"42\r", 0.01) == [Read("INS-42")]


def test_timeout_mode_ends_a_read_after_a_pause() -> None:
    """Without a suffix, a pause of the idle timeout ends the read."""
    framer = Framer("timeout", idle_timeout_s=0.1)
    assert framer.receive(b"INS-7", 0.0) == []
    assert framer.flush(0.05) == []
    assert framer.flush(0.2) == [Read("INS-7")]


def test_non_utf8_is_a_bad_read_kept_escaped_and_the_next_read_works() -> None:
    """Garbage bytes become a bad read with escapes; the following code still decodes."""
    frames = Framer("cr").receive(b"\xff\xfeAB\rINS-9\r", 0.0)
    assert frames == [BadRead("not_utf8", "\\xff\\xfeAB"), Read("INS-9")]


def test_a_10kb_line_is_cut_once_and_the_next_read_works() -> None:
    """A line far over 512 bytes is one too_long bad read; framing recovers at the terminator."""
    frames = Framer("cr").receive(b"X" * 10_000 + b"\rINS-1\r", 0.0)
    assert frames == [BadRead("too_long", "X" * MAX_BYTES), Read("INS-1")]


@given(st.lists(st.binary(max_size=64), max_size=20), st.sampled_from(["cr", "lf", "crlf", "tab"]))
def test_any_bytes_give_frames_and_a_following_code_still_reads(
    chunks: list[bytes], suffix: Suffix
) -> None:
    """Whatever came before, a terminator then a clean code yields that code last."""
    framer = Framer(suffix)
    terminator = {"cr": b"\r", "lf": b"\n", "crlf": b"\r\n", "tab": b"\t"}[suffix]
    frames = []
    for chunk in chunks:
        frames.extend(framer.receive(chunk, 0.0))
    frames.extend(framer.receive(terminator + b"INS-OK" + terminator, 0.0))
    assert frames[-1] == Read("INS-OK")
    assert all(isinstance(f, (Read, BadRead)) for f in frames)
