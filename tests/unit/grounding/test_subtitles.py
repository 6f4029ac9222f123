"""Subtitle parsing and placement (the golden SRT table is in test_golden_prompts.py)."""

from __future__ import annotations

import pytest

from service.grounding.subtitles import Cue, SubtitleError, cues_for_frames, parse_subtitles

CUES = [Cue(0.0, 1.0, "a"), Cue(1.0, 1.5, "b"), Cue(1.6, 1.7, "c"), Cue(2.5, 9.0, "d")]


@pytest.mark.parametrize(("times", "shown"), [
    ([0.0, 1.2, 3.0], "abd"),      # start inclusive, several frames, long cue
    ([1.0], "b"),                  # end exclusive: a cue ending at 1.0 is gone at 1.0
    ([1.55, 1.75], ""),            # a short cue between two frames is not shown
    ([3.0, 0.5], "ad"),            # frame order does not matter; cues keep time order
    ([], ""),
])
def test_cues_for_frames(times: list[float], shown: str) -> None:
    assert "".join(c.text for c in cues_for_frames(CUES, times)) == shown


def test_vtt_and_srt_read_the_same_cue() -> None:
    srt = "1\r\n00:01:02,500 --> 00:01:04,000\r\n<i>Hi</i>\r\nthere\r\n"
    vtt = "\ufeffWEBVTT\n\nNOTE x\n\n01:02.500 --> 01:04.000 line:0\n<i>Hi</i>\nthere\n"
    assert parse_subtitles(srt) == [Cue(62.5, 64.0, "<i>Hi</i> there")]  # SRT keeps markup
    assert parse_subtitles(vtt) == [Cue(62.5, 64.0, "Hi there")]


def test_errors_name_the_line() -> None:
    bad = "1\n00:00:00,000 --> 00:00:01,000\nok\n\n2\n00:00:01,000 --> 00:00:1,000\nx\n"
    with pytest.raises(SubtitleError, match=r"^subtitles line 6: bad time '00:00:1,000'"):
        parse_subtitles(bad)
    with pytest.raises(SubtitleError, match=r"^subtitles line 1: expected a 'start --> end'"):
        parse_subtitles("just some text\nno timing\n")
