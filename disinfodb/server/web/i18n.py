"""The pages in their readers' languages: which language a request gets, the gettext
catalogues, and the locale's way of writing dates, numbers, countries and languages.

A request's language is `?lang=xx` when it names a shipped language (links and forms then
keep it, so a shared URL shows the same page), else the best of its Accept-Language
header, else English. The catalogues are read from the .po files at start-up (compiled in
memory), so no generated .mo file is kept in the repository. Case content (titles,
summaries, disproofs, keywords) is never translated: only the words around it and the
names of countries and languages, from Babel's CLDR data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from gettext import NullTranslations
from importlib import resources
from io import BytesIO
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pycountry
from babel import Locale
from babel.core import negotiate_locale
from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.requests import Request

from disinfodb.server.web.charts import Wording, period_text
from disinfodb.vocab import language_name

DEFAULT = "en"
# The languages the pages ship in (English is the catalogues' source language).
LANGUAGES = ("en", "ru", "uk", "de", "fr", "es", "pl")
DOMAIN = "messages"
# English pages write dates the way the EUvsDisinfo cases do: "5 Jan 2022".
_FORMAT_LOCALES = {"en": "en_GB"}
# Country spellings the store keeps that neither CLDR's English names nor ISO 3166 spell so.
_COUNTRY_CODES = {"uk": "GB", "turkey": "TR", "vatican": "VA"}


def N_(message: str) -> str:
    """Marks a string for extraction (gettext tools look for `N_`); it is translated where shown."""
    return message


# What each filter of a search is called on a chip ("country: Ukraine").
FILTER_NAMES = {"keyword": N_("keyword"), "country": N_("country"), "language": N_("language"),
                "outlet": N_("outlet"), "issue": N_("issue"), "since": N_("since"), "until": N_("until")}
# The facets' and groupings' headings (disinfodb.facets keeps the English ones for the CLI and the API).
FACET_LABELS = {"keyword": N_("Keywords"), "country": N_("Countries and regions"), "language": N_("Languages"),
                "outlet": N_("Outlets"), "issue": N_("Review issues"), "year": N_("Years"),
                "narrative": N_("Narratives"), "theme": N_("Themes")}
PERIODS = {"week": N_("week"), "month": N_("month"), "year": N_("year")}  # trends.Period


# -- catalogues ------------------------------------------------------------------------------


def _read_catalogue(lang: str) -> NullTranslations:
    """One language's .po file, compiled in memory (fuzzy entries left out, as msgfmt does)."""
    if lang == DEFAULT:
        return NullTranslations()
    source = resources.files("disinfodb.server.web") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    with source.open("rb") as stream:
        catalogue = read_po(stream, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


CATALOGUES: dict[str, NullTranslations] = {lang: _read_catalogue(lang) for lang in LANGUAGES}


# -- choosing the language -----------------------------------------------------------------


@dataclass(frozen=True)
class PageLanguage:
    code: str
    explicit: bool  # chosen by ?lang=: links and forms carry it on

    @property
    def kept(self) -> str | None:
        """The `lang` value this page's links keep (None: the reader's browser chose)."""
        return self.code if self.explicit else None


def shipped(tag: str) -> str | None:
    """The shipped language a language tag names ("uk", "uk-UA", "UK_ua"), if any."""
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else None


def negotiated(header: str) -> str:
    """The best shipped language of an Accept-Language header: by q-value (q=0 means
    "not this one"), ties in the order given; English when none is shipped."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(float(value), 1.0)
                except ValueError:
                    quality = 0.0
        if tag and tag != "*" and quality > 0:  # NaN is refused by the comparison too
            weighted.append((-quality, position, tag))
    preferred = [tag for _, _, tag in sorted(weighted)]
    best = negotiate_locale(preferred, list(LANGUAGES), sep="-", aliases={})
    return (shipped(best) if best else None) or DEFAULT


def page_language(request: Request) -> PageLanguage:
    """The request's language (worked out once per request)."""
    chosen: PageLanguage | None = getattr(request.state, "language", None)
    if chosen is None:
        asked = shipped(request.query_params.get("lang", ""))
        chosen = (PageLanguage(asked, True) if asked else
                  PageLanguage(negotiated(request.headers.get("accept-language", "")), False))
        request.state.language = chosen
    return chosen


def translator(request: Request) -> NullTranslations:
    """The request's catalogue: `.gettext` and `.ngettext` for strings Python puts on pages."""
    return CATALOGUES[page_language(request).code]


def with_lang(url: str, lang: str | None) -> str:
    """A local URL that keeps a chosen language (unchanged when the browser chose)."""
    if not lang:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "lang"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("lang", lang)])))


def switcher(request: Request) -> list[tuple[str, str, str, bool]]:
    """(code, own name, this page's URL in that language, current?) for each language:
    the same path and query, only `lang` changed."""
    here, url = page_language(request).code, f"{request.url.path}?{request.url.query}"
    return [(code, own_name(code), with_lang(url, code), code == here) for code in LANGUAGES]


# -- names and formats ---------------------------------------------------------------------


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


@cache
def own_name(lang: str) -> str:
    """A language by its own name: Українська, Deutsch."""
    return _capitalised(Locale.parse(lang).display_name or lang)


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(_FORMAT_LOCALES.get(lang, lang))


@cache
def _country_index() -> dict[str, str]:
    """Every spelling of a country or region CLDR's English names and ISO 3166 know -> its code."""
    index = {name.casefold(): code for code, name in Locale.parse("en").territories.items()}
    for country in pycountry.countries:
        for attribute in ("common_name", "name", "official_name"):
            name = getattr(country, attribute, None)
            if name:
                index.setdefault(name.casefold(), country.alpha_2)
                index.setdefault(name.split(",")[0].casefold(), country.alpha_2)  # "Moldova, Republic of"
    index.update({name: code.upper() for name, code in _COUNTRY_CODES.items()})
    return index


def country_code(name: str) -> str | None:
    """The ISO 3166 (or CLDR region) code of a stored country name, if it has one."""
    key = " ".join(name.split()).casefold()
    index = _country_index()
    return index.get(key) or index.get(key.removeprefix("the "))


def country_label(name: str, lang: str) -> str:
    """A stored country or region in the page's language ("Ukraine" -> "Україна");
    names CLDR does not know ("Baltic states") stay as recorded."""
    code = country_code(name)
    if code is None or lang == DEFAULT:
        return name
    return str(_locale(lang).territories.get(code, name))


def language_label(code: str, lang: str) -> str:
    """A language code in the page's language ("ru" -> "Російська")."""
    found = None if lang == DEFAULT else _locale(lang).languages.get(code)  # English: as the CLI and API name it
    return _capitalised(str(found)) if found else language_name(code)


def facet_label(facet: str, key: str, label: str, lang: str) -> str:
    """How a facet value reads on a page: countries and languages named in its language."""
    if facet == "country":
        return country_label(label, lang)
    if facet == "language":
        return language_label(key, lang)
    return label


def date_text(day: date | datetime, lang: str) -> str:
    return format_date(day, "medium", locale=_locale(lang))


def datetime_text(moment: datetime, lang: str) -> str:
    """A time of the audit trail, in UTC (said so by the page)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    locale = _locale(lang)
    joined = str(get_datetime_format("medium", locale=locale))  # "{1}, {0}": the date, then the time
    return joined.replace("{1}", format_date(utc, "medium", locale=locale)).replace(
        "{0}", format_time(utc, "short", locale=locale))


def month_text(day: date, lang: str) -> str:
    return format_skeleton("yMMM", day, locale=_locale(lang))


def number_text(value: float, lang: str, decimals: int = 0) -> str:
    pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
    return format_decimal(value, format=pattern, locale=_locale(lang))


def percent_text(share: float, lang: str, decimals: int = 0) -> str:
    """A fraction as a percentage, the locale's way: "12.5%", "12,5 %" in German."""
    locale = _locale(lang)
    pattern = str(locale.percent_formats[None].pattern)  # "#,##0%", "#,##0 %"
    if decimals:
        pattern = pattern.replace("#,##0", "#,##0." + "0" * decimals, 1)
    return format_percent(share, format=pattern, locale=locale)


@cache
def chart_wording(lang: str) -> Wording:
    """How the charts write numbers, dates and their words in this language."""
    tr = CATALOGUES[lang]
    return Wording(
        count=lambda value: number_text(value, lang, 0 if float(value).is_integer() else 2),
        percent=lambda share, decimals: percent_text(share, lang, decimals),
        month=lambda day: month_text(day, lang),
        month_short=lambda day: format_skeleton("MMM", day, locale=_locale(lang)),
        day=lambda day: date_text(day, lang),
        week=lambda day: tr.gettext("week of %(day)s") % {"day": date_text(day, lang)},
        no_dates=tr.gettext("No dated cases"), nothing=tr.gettext("Nothing to show"))


# -- in templates ----------------------------------------------------------------------------


def _lang(context: Context) -> PageLanguage:
    request = context.get("request")
    return page_language(request) if isinstance(request, Request) else PageLanguage(DEFAULT, False)


def _gettext(context: Context, message: str) -> str:
    return CATALOGUES[_lang(context).code].gettext(message)


def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return CATALOGUES[_lang(context).code].ngettext(singular, plural, count)


def _formatter(render: Callable[..., str]) -> Callable[..., str]:
    """A Jinja filter that writes its value in the page's locale."""
    @pass_context
    def apply(context: Context, value: Any, *args: Any) -> str:
        return render(value, _lang(context).code, *args)
    return apply


@pass_context
def _href(context: Context, path: str, **params: Any) -> str:
    """A link within the site that keeps the page's chosen language."""
    query = [(k, str(v)) for k, v in params.items() if v is not None and v != ""]
    return with_lang(f"{path}?{urlencode(query)}" if query else path, _lang(context).kept)


@pass_context
def _lang_field(context: Context) -> Markup:
    """The hidden field that keeps a chosen language through a GET form."""
    kept = _lang(context).kept
    return Markup(f'<input type="hidden" name="lang" value="{escape(kept)}">') if kept else Markup("")


def _named(names: dict[str, str]) -> Callable[..., str]:
    @pass_context
    def name(context: Context, key: str) -> str:
        return _gettext(context, names[key]) if key in names else key
    return name


def install(env: Any) -> None:
    """Give a Jinja environment the i18n extension (`{% trans %}`, `_()`, `ngettext()`),
    reading each page's language from its request, and the locale-aware filters."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(pass_context(_gettext), pass_context(_ngettext), newstyle=True)
    env.globals.update(
        href=_href, lang_field=_lang_field, filter_name=_named(FILTER_NAMES), facet_heading=_named(FACET_LABELS),
        period_name=_named(PERIODS),
        facet_value=pass_context(lambda c, facet, key, label: facet_label(facet, key, label, _lang(c).code)),
        country=pass_context(lambda c, name: country_label(name, _lang(c).code)),
        language=pass_context(lambda c, code: language_label(code, _lang(c).code)),
        page_lang=pass_context(lambda c: _lang(c).code),
        period_text=pass_context(lambda c, day, period: period_text(day, period, chart_wording(_lang(c).code))),
        switcher=pass_context(lambda c: switcher(c["request"])))
    env.filters.update(date=_formatter(date_text), datetime=_formatter(datetime_text),
                       number=_formatter(number_text), percent=_formatter(percent_text))

