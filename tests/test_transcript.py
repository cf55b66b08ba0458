"""Spoken text: recognising transcripts, and matching each sentence with what was said before it."""

from __future__ import annotations

from conftest import Claims2017

from disinfodb.matching.matcher import MAX_INPUT_UNITS, Matcher
from disinfodb.matching.transcript import CONTEXT, transcript_lines, with_context

DEBATE = """1\tHOLT\tGood evening from Hofstra University.
2\tCLINTON\tWell, thank you, Lester.
3\tTRUMP\tOur jobs are fleeing the country.
4\tTRUMP\tThat's the biggest tax increase in history.
"""
SRT = """1
00:00:01,000 --> 00:00:04,000
Explosions at the ammunition depot in Vinnytsia

2
00:00:04,500 --> 00:00:07,000
were organised by <i>Ukrainian soldiers</i> themselves.
"""
VTT = "WEBVTT\n\n00:01.000 --> 00:04.000\nNATO is preparing\n\n00:04.500 --> 00:07.000\na coup in Kazakhstan.\n"
INTERVIEW = """HOST: Welcome back to the programme.
GUEST: The explosions were staged by the army itself.
HOST: Do you have evidence for that?
GUEST: Everyone in Vinnytsia knows it.
"""


def test_a_debate_transcript_gives_its_sentences_without_numbers_or_speakers() -> None:
    assert transcript_lines(DEBATE) == ["Good evening from Hofstra University.", "Well, thank you, Lester.",
                                        "Our jobs are fleeing the country.",
                                        "That's the biggest tax increase in history."]


def test_subtitles_are_one_utterance_without_cue_numbers_timestamps_or_tags() -> None:
    assert transcript_lines(SRT) == ["Explosions at the ammunition depot in Vinnytsia were organised by"
                                     " Ukrainian soldiers themselves."]
    assert transcript_lines(VTT) == ["NATO is preparing a coup in Kazakhstan."]


def test_an_interview_loses_its_speaker_names() -> None:
    assert transcript_lines(INTERVIEW) == ["Welcome back to the programme.",
                                           "The explosions were staged by the army itself.",
                                           "Do you have evidence for that?", "Everyone in Vinnytsia knows it."]


def test_prose_is_not_a_transcript() -> None:
    prose = ("Note: this is an article.\nIt has a few lines.\nOne of them says: something.\n"
             "Most lines are plain prose, not speakers.\n")
    assert transcript_lines(prose) is None
    assert transcript_lines("HOST: one line only") is None


def test_each_sentence_is_also_joined_to_the_ones_before_it() -> None:
    said = ["a.", "b.", "c."]
    assert with_context(said, 0) == said
    assert with_context(said, 1) == ["a.", "b.", "c.", "a. b.", "b. c."]
    assert with_context(said, 2) == ["a.", "b.", "c.", "a. b.", "a. b. c."]


def test_a_transcript_is_matched_with_context_and_a_long_one_stays_bounded(claims_2017: Claims2017) -> None:
    matcher: Matcher = claims_2017.matcher
    units = matcher._input_units(INTERVIEW)
    assert "The explosions were staged by the army itself." in units
    assert "Do you have evidence for that? Everyone in Vinnytsia knows it." in units  # CONTEXT = 1
    assert CONTEXT == 1
    alone = matcher._input_units(INTERVIEW, context=0)
    assert set(transcript_lines(INTERVIEW) or []) <= set(alone)
    assert "Do you have evidence for that? Everyone in Vinnytsia knows it." not in alone
    long_debate = "".join(f"{n}\tSPEAKER {n % 3}\tSentence number {n} about the budget of the town.\n"
                          for n in range(1, 5001))
    assert len(matcher._input_units(long_debate)) <= MAX_INPUT_UNITS
    found = matcher.match(long_debate, limit=3)
    assert len(found) == 3
    vinnytsia = matcher.match(SRT, limit=1)[0]
    assert vinnytsia.title.startswith("Explosions in Vinnitsa")
