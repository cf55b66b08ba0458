"""Facets: the metadata cases are filtered, counted and charted by, one class each.

A facet knows its name (the key of its counts in search results, and the query parameter
of its filter), its label, the values a case carries (as key and label: keys are what
the store compares, case- and accent-insensitively; labels what people read), how a
user's spelling of a value becomes its key, and how a value is shown and searched for.
The store, the search, the trends, the CLI and the API all iterate the same FACETS.
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from disinfodb.cases import Case
from disinfodb.errors import QuerySyntaxError
from disinfodb.vocab import country_name, fold, language_code

FacetName = Literal["keyword", "country", "language", "outlet", "issue", "year"]
NARRATIVE = "narrative"
THEME = "theme"  # a group of narratives: trends and emerging at the broader level
# What a series, a top list or a co-occurrence axis can group cases by: a facet, narratives or themes.
Grouping = Literal["keyword", "country", "language", "outlet", "issue", "year", "narrative", "theme"]


class Facet:
    """One facet of the cases (see the module docstring)."""

    name: ClassVar[str]
    label: ClassVar[str]
    query_field: ClassVar[str | None] = None  # the SearchQuery field that holds its filter values

    def values(self, case: Case) -> list[tuple[str, str]]:
        """The (key, label) values this case carries."""
        raise NotImplementedError

    def key(self, value: str) -> str:
        """A user's spelling of a value as the key the store keeps (QuerySyntaxError if it cannot be one)."""
        return fold(value)

    def filter_value(self, key: str, label: str) -> str:
        """What a search filter for this value takes."""
        return label


class KeywordFacet(Facet):
    name, label, query_field = "keyword", "Keywords", "keywords"

    def values(self, case: Case) -> list[tuple[str, str]]:
        return [(fold(k), k) for k in case.keywords]


class CountryFacet(Facet):
    name, label, query_field = "country", "Countries and regions", "countries"

    def values(self, case: Case) -> list[tuple[str, str]]:
        return [(fold(c), c) for c in case.countries]

    def key(self, value: str) -> str:
        return fold(country_name(value))


class LanguageFacet(Facet):
    name, label, query_field = "language", "Languages", "languages"

    def values(self, case: Case) -> list[tuple[str, str]]:
        return [(code, code) for code in case.languages]

    def key(self, value: str) -> str:
        try:
            return language_code(value)
        except ValueError as error:
            raise QuerySyntaxError(str(error)) from None

    def filter_value(self, key: str, label: str) -> str:
        return key


class OutletFacet(Facet):
    name, label, query_field = "outlet", "Outlets", "outlets"

    def values(self, case: Case) -> list[tuple[str, str]]:
        return [(fold(o.name or o.url or ""), o.name or o.url or "") for o in case.outlets]


class IssueFacet(Facet):
    name, label, query_field = "issue", "Review issues", "issues"

    def values(self, case: Case) -> list[tuple[str, str]]:
        return [] if case.issue is None else [(str(case.issue), str(case.issue))]

    def key(self, value: str) -> str:
        try:
            return str(int(value))
        except ValueError:
            raise QuerySyntaxError(f"an issue is a number, not {value!r}") from None

    def filter_value(self, key: str, label: str) -> str:
        return key


class YearFacet(Facet):
    """Filtered by a date range (since/until), not by a parameter of its own."""

    name, label = "year", "Years"

    def values(self, case: Case) -> list[tuple[str, str]]:
        return [] if case.published is None else [(str(case.published.year), str(case.published.year))]

    def key(self, value: str) -> str:
        return value.strip()

    def filter_value(self, key: str, label: str) -> str:
        return key


FACETS: tuple[Facet, ...] = (KeywordFacet(), CountryFacet(), LanguageFacet(), OutletFacet(), IssueFacet(),
                             YearFacet())
FACET_NAMES: tuple[str, ...] = tuple(f.name for f in FACETS)
BY_NAME: dict[str, Facet] = {f.name: f for f in FACETS}
GROUPINGS: tuple[str, ...] = (*FACET_NAMES, NARRATIVE, THEME)
assert get_args(FacetName) == FACET_NAMES and get_args(Grouping) == GROUPINGS, "keep the literals and FACETS in step"


def facet(name: str) -> Facet:
    """The facet of a name; QuerySyntaxError naming the ones there are."""
    found = BY_NAME.get(name)
    if found is None:
        raise QuerySyntaxError(f"unknown facet {name!r}: use one of {', '.join(FACET_NAMES)}")
    return found


def case_terms(case: Case) -> list[tuple[str, str, str]]:
    """The (facet, key, label) rows a case contributes to facets and filters, each once."""
    rows = [(f.name, key, label) for f in FACETS for key, label in f.values(case)]
    return list({(name, key): (name, key, label) for name, key, label in rows if key}.values())
