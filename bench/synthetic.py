"""Synthetic cases drawn from the vocabulary and metadata distributions of the real ones.

Real data has ~14k cases; the benchmarks need 100k. Each synthetic case takes its text
lengths from a random real case and its words from the real word frequencies (so FTS
posting lists look like real ones), and its metadata from the real empirical
distributions (so facets and filters have realistic selectivity).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from datetime import timedelta

from disinfodb.cases import Case

_WORD = re.compile(r"\w+", re.UNICODE)


class CaseSampler:
    """Samples fields of new cases from a list of real ones."""

    def __init__(self, real: Sequence[Case], seed: int = 7) -> None:
        self.random = random.Random(seed)
        self.real = list(real)
        self.title_words = [w for c in real for w in _WORD.findall(c.title)]
        self.text_words = [w for c in real for w in _WORD.findall(c.summary)] or self.title_words
        self.disproof_words = [w for c in real for w in _WORD.findall(c.disproof)] or self.text_words

    def _text(self, words: list[str], length: int) -> str:
        return " ".join(self.random.choices(words, k=length))

    def case(self, number: int) -> Case:
        pick = self.random.choice
        template, other = pick(self.real), pick(self.real)
        published = template.published or other.published
        if published is not None:
            published += timedelta(days=self.random.randint(-30, 30))
        return Case(
            title=f"{self._text(self.title_words, max(3, len(_WORD.findall(template.title))))} {number}",
            summary=self._text(self.text_words, len(_WORD.findall(other.summary)) or 40),
            disproof=self._text(self.disproof_words, len(_WORD.findall(other.disproof)) or 30),
            published=published,
            issue=pick(self.real).issue,
            languages=template.languages,
            countries=pick(self.real).countries,
            keywords=template.keywords,
            outlets=pick(self.real).outlets,
        )

    def cases(self, count: int) -> Iterator[Case]:
        for number in range(count):
            yield self.case(number)
