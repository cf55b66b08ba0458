"""Spoken text: recognising a transcript, taking out who spoke and when, and giving each
sentence the sentences said before it.

Why context: a debate sentence often does not say what it is about ("That's the biggest
tax increase in history."); the sentences before it do. CheckThat! 2021 2B (bench.transcripts)
measures it: MAP@5 on its dev split rises from the sentence alone to the sentence with its
CONTEXT predecessors (see the README's figures).

Recognised layouts (each needs most non-empty lines to fit, so prose is never mistaken):
  number <TAB> speaker <TAB> sentence      (CheckThat!'s transcripts, spreadsheet exports)
  SRT / WebVTT cues                        (timestamps "00:01:02,000 --> 00:01:04,500")
  SPEAKER: sentence                        (press transcripts, interview write-ups)
"""

from __future__ import annotations

import re

from disinfodb.documents.subtitles import CUE_TAG, CUE_TIME

CONTEXT = 1  # sentences before each one that go with it (chosen on CheckThat! 2021 2B train: bench.transcripts)
MAX_CONTEXT = 8  # more is a paragraph, not a sentence's context
_SPEAKER = re.compile(r"^\s*([A-ZÀ-ÖØ-ÞА-ЯЁІЇЄҐ][\w.'’\- ]{0,40}?|\[[^\]]{1,40}\])\s*:\s+(\S.*)$")
_TAB_ROW = re.compile(r"^\s*\d+\t[^\t]*\t(.+)$")
_MOSTLY = 0.8
_CUE_SHARE = 0.15  # a cue is a timing line, a number (SRT) and one to four lines of text


def transcript_lines(text: str) -> list[str] | None:
    """The utterances of a transcript, speakers and timestamps removed; None if the text is not one."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 3:
        return None
    rows = [_TAB_ROW.match(line) for line in lines]
    if sum(row is not None for row in rows) >= _MOSTLY * len(lines):
        return [row.group(1).strip() for row in rows if row is not None and row.group(1).strip()]
    cues = sum(bool(CUE_TIME.match(line)) for line in lines)
    if cues >= 2 and cues >= _CUE_SHARE * len(lines):
        return _cues(lines)
    speakers = [_SPEAKER.match(line) for line in lines]
    if sum(match is not None for match in speakers) >= _MOSTLY * len(lines):
        return [match.group(2).strip() if match else line.strip() for match, line in zip(speakers, lines, strict=True)]
    return None


def _cues(lines: list[str]) -> list[str]:
    """The text of SRT/WebVTT cues, without cue numbers, timestamps, the header and tags, as one
    utterance (a cue is a piece of the screen, not a sentence: the sentence splitter cuts it)."""
    out = []
    for line in lines:
        stripped = line.strip()
        if (stripped.isdigit() or CUE_TIME.match(stripped) or stripped.startswith(("WEBVTT", "NOTE", "STYLE"))):
            continue
        spoken = CUE_TAG.sub("", stripped).strip()
        if spoken:
            out.append(spoken)
    return [" ".join(out)] if out else []


def with_context(sentences: list[str], before: int) -> list[str]:
    """Each sentence, then each sentence joined to the `before` sentences said before it."""
    windows = [" ".join(sentences[max(0, i - before):i + 1]) for i in range(1, len(sentences))] if before else []
    return [*sentences, *windows]
