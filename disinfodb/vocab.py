"""Controlled vocabularies: language codes, country names, keyword keys.

Scraped data spells the same thing many ways ("Castilian", "Spanish", "es"; "Kirgizstan",
"Kyrgyzstan"; "Colour revolutions", "colour revolutions"). Facets and filters are only
useful when those collapse to one value, so every importer goes through here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import pycountry

# Names seen in real exports that ISO 639's own names do not cover.
_LANGUAGE_ALIASES = {
    "castilian": "es",
    "moldavian": "ro",
    "moldovan": "ro",
    "greek": "el",
    "português (brazil)": "pt",
    "portuguese (brazil)": "pt",
    "brazilian portuguese": "pt",
    "farsi": "fa",
}

# The EUvsDisinfo field is "Language/Target Audience": scrapes sometimes put the target
# country there. Such a value means the country's main language.
_COUNTRY_LANGUAGE = {
    "bulgaria": "bg",
    "spain": "es",
    "lithuania": "lt",
    "moldova": "ro",
    "romania": "ro",
    "serbia": "sr",
    "germany": "de",
    "belarus": "be",
    "venezuela": "es",
    "russia": "ru",
    "ukraine": "uk",
    "georgia": "ka",
    "armenia": "hy",
    "poland": "pl",
    "czech republic": "cs",
    "slovakia": "sk",
    "hungary": "hu",
    "latvia": "lv",
    "estonia": "et",
    "france": "fr",
    "italy": "it",
}

# Spelling variants of the "countries and/or regions" seen in real exports.
_COUNTRY_ALIASES = {
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "united kingdom": "UK",
    "great britain": "UK",
    "kirgizstan": "Kyrgyzstan",
    "the vatican": "Vatican",
    "holy see": "Vatican",
    "west": "The West",
    "netherlands": "The Netherlands",
    "czechia": "Czech Republic",
    "fyrom": "North Macedonia",
    "macedonia": "North Macedonia",
    "russian federation": "Russia",
}


@cache
def _language_index() -> dict[str, str]:
    """Map every spelling of a language ISO 639 knows to its shortest code."""
    index: dict[str, str] = {}
    # Codes win over names ("ari" is a code, and also a name of another language).
    for lang in pycountry.languages:
        code = getattr(lang, "alpha_2", None) or lang.alpha_3
        index[lang.alpha_3.casefold()] = code
        if getattr(lang, "alpha_2", None):
            index[lang.alpha_2.casefold()] = code
    # Then names, two-letter-code languages first, so "Russian" is ru, not Old Russian (orv).
    ordered = sorted(pycountry.languages, key=lambda lang: not hasattr(lang, "alpha_2"))
    for lang in ordered:
        code = getattr(lang, "alpha_2", None) or lang.alpha_3
        names = [lang.name, getattr(lang, "common_name", ""), getattr(lang, "inverted_name", "")]
        for name in names:
            for part in re.split(r"[;,]", name or ""):
                key = re.sub(r"\s*\(.*?\)", "", part).strip().casefold()
                if key:
                    index.setdefault(key, code)
    index.update(_LANGUAGE_ALIASES)
    return index


def language_code(value: str) -> str:
    """Return the ISO 639-1 code (ISO 639-3 where no 639-1 exists) for a name or code.

    Raises ValueError naming the value when it is no language we know.
    """
    key = " ".join(value.split()).casefold()
    code = _language_index().get(key) or _COUNTRY_LANGUAGE.get(key)
    if code is None:
        raise ValueError(f"unknown language {value!r}")
    return code


def language_name(code: str) -> str:
    """The English name of a language code, for display."""
    lang = pycountry.languages.get(alpha_2=code) or pycountry.languages.get(alpha_3=code)
    if lang is None:
        return code
    name = str(getattr(lang, "common_name", None) or lang.name).split(";")[0]
    return re.sub(r"\s*\(.*?\)", "", name).removeprefix("Modern ")


def country_name(value: str) -> str:
    """Normalise a country or region name to the spelling the database uses."""
    name = " ".join(value.split())
    return _COUNTRY_ALIASES.get(name.casefold(), name)


def fold(value: str) -> str:
    """A case- and accent-insensitive key, so facets group "Crimea" and "crimea"."""
    if value.isascii():  # the common case, and 10x faster than decomposing
        return " ".join(value.casefold().split())
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.split())
