"""Links of the search page: each facet value, chip, year and page is a URL that holds
the whole search state with one thing changed, so every view can be shared (a language
chosen with `?lang=` included)."""

from __future__ import annotations

from urllib.parse import urlencode


class SearchLinks:
    """URLs derived from the current query string."""

    def __init__(self, params: list[tuple[str, str]], lang: str | None = None) -> None:
        self.params = [(k, v) for k, v in params if v != "" and k != "lang"]
        self.lang = lang  # the language the reader chose, kept by every link (None: their browser's)

    def _kept(self, params: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [*params, ("lang", self.lang)] if self.lang else params

    def _at(self, path: str, params: list[tuple[str, str]]) -> str:
        """`path` with these parameters and the kept language (no `?` when there are none)."""
        params = self._kept(params)
        return f"{path}?{urlencode(params)}" if params else path

    def _url(self, params: list[tuple[str, str]]) -> str:
        return self._at("/", params)

    def _without_page(self) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.params if k != "page"]

    def active(self, facet: str, value: str) -> bool:
        if facet == "year":
            return self.year_range() == (f"{value}-01-01", f"{value}-12-31")
        return any(k == facet and v.casefold() == value.casefold() for k, v in self.params)

    def toggle(self, facet: str, value: str) -> str:
        """The search with this facet value added, or removed if it is already a filter."""
        if facet == "year":
            return self.year(value)
        params = self._without_page()
        if self.active(facet, value):
            return self._url([(k, v) for k, v in params if not (k == facet and v.casefold() == value.casefold())])
        return self._url([*params, (facet, value)])

    def year_range(self) -> tuple[str | None, str | None]:
        values = dict(self.params)
        return values.get("since"), values.get("until")

    def year(self, year: str) -> str:
        """The search limited to one year (or no longer, if it already was)."""
        params = [(k, v) for k, v in self._without_page() if k not in ("since", "until")]
        if self.year_range() == (f"{year}-01-01", f"{year}-12-31"):
            return self._url(params)
        return self._url([*params, ("since", f"{year}-01-01"), ("until", f"{year}-12-31")])

    def without(self, param: str, value: str) -> str:
        return self._url([(k, v) for k, v in self._without_page() if not (k == param and v == value)])

    def chips(self) -> list[tuple[str, str, str]]:
        """The active filters as (what, value, URL without it)."""
        shown = ("keyword", "country", "language", "outlet", "issue", "since", "until")
        return [(k, v, self.without(k, v)) for k, v in self.params if k in shown]

    def page(self, number: int) -> str:
        return self._url([*self._without_page(), ("page", str(number))] if number > 1 else self._without_page())

    def clear(self) -> str:
        """The same words, no filters."""
        return self._url([(k, v) for k, v in self.params if k == "q"])
