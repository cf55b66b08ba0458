"""The Case model: what one debunked disinformation case is, and what makes it valid.

Every importer builds Cases and every exporter reads them, so normalisation (language
codes, country spellings, whitespace) happens once, here, in validators.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import date, datetime, timedelta
from typing import Annotated
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from slugify import slugify

from disinfodb.vocab import country_name, fold, language_code

SLUG_MAX = 80
ID_MAX = 100
URL_MAX = 2048
WEB_SCHEMES = ("http", "https")
# How many values a list field may hold, and how long each may be. The real archive's
# largest are 19 keywords, 14 countries, 15 languages, 152 outlets and 9 cited links per
# case; the bounds leave room for that and stop a record of 300,000 keywords (one such
# case made every later search 8x slower).
LIST_BOUNDS = {"languages": (50, 50), "countries": (100, 100), "keywords": (100, 200), "outlets": (500, 0),
               "links": (500, URL_MAX), "related": (500, 200), "narratives": (100, 100)}
OUTLET_NAME_MAX = 500
EARLIEST_DATE = date(1900, 1, 1)
FUTURE_DAYS = 366
# Validation context of documents read back from the database: they were checked when
# written, perhaps by an older release with looser rules, and must stay readable.
STORED: dict[str, bool] = {"stored": True}
_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def plausible_dates() -> tuple[date, date]:
    """The publication dates a case may have: $DISINFODB_EARLIEST_DATE (default 1900-01-01)
    to today plus $DISINFODB_FUTURE_DAYS (default 366). A date outside is a typo or an
    attack (one case dated 9999-12-31 made a weekly chart of 500,000 periods)."""
    earliest = os.environ.get("DISINFODB_EARLIEST_DATE")
    future = os.environ.get("DISINFODB_FUTURE_DAYS")
    return (date.fromisoformat(earliest) if earliest else EARLIEST_DATE,
            date.today() + timedelta(days=int(future) if future else FUTURE_DAYS))


def web_url(value: str | None) -> str | None:
    """The URL if it is an absolute http(s) address, else None: what may become a link."""
    if not value:
        return None
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme.lower() in WEB_SCHEMES and parts.netloc else None


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _url_field(value: str | None, info: ValidationInfo, what: str) -> str | None:
    """A URL field's value: blank is None; an http(s) URL, or a ValueError naming the rule it
    breaks (what the database holds already is kept as it is)."""
    if _stored(info):
        return (value or "").strip() or None
    return _checked_url(value, what)


def _checked_url(value: str | None, what: str) -> str | None:
    """An http(s) URL, or a ValueError naming the rule it breaks."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > URL_MAX:
        raise ValueError(f"{what} is {len(value):,} characters long: at most {URL_MAX:,} are allowed")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{what} {value[:80]!r} contains white space: a web address has none")
    if web_url(value) is None:
        raise ValueError(f"{what} {value[:80]!r} is not a web address: only http:// and https:// URLs"
                         " with a host are accepted")
    return value


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _without_controls(value: object) -> object:
    """Drop control characters (NUL and the like, never tabs or newlines) from a string or
    list of strings: they are junk from scrapers and PostgreSQL refuses NUL in text."""
    if isinstance(value, str):
        return _CONTROLS.sub("", value)
    if isinstance(value, list):
        return [_CONTROLS.sub("", v) if isinstance(v, str) else v for v in value]
    return value


def _clean_text(value: str) -> str:
    """Trim, turn non-breaking spaces into spaces and drop stray BOMs / CR characters."""
    value = value.replace("\u00a0", " ").replace("\ufeff", "").replace("\r\n", "\n")
    lines = [" ".join(line.split()) for line in value.strip().split("\n")]
    # Keep paragraph breaks (one blank line), drop runs of blank lines.
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _unique(values: list[str]) -> list[str]:
    """Drop empty values and repeats (compared case- and accent-insensitively), keep order."""
    seen: set[str] = set()
    out = []
    for value in values:
        key = fold(value)
        if key and key not in seen:
            seen.add(key)
            out.append(value)
    return out


Text = Annotated[str, Field(max_length=200_000)]


class Outlet(BaseModel):
    """A place where the disinformation was published; `published` is when it appeared
    there, when known (an appearance found later, e.g. confirmed from the triage queue,
    has its own date, not the case's)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    url: str | None = None
    archive_url: str | None = None
    published: date | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _controls(cls, value: object) -> object:
        return _without_controls(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("name")
    @classmethod
    def _name_length(cls, value: str, info: ValidationInfo) -> str:
        if len(value) > OUTLET_NAME_MAX and not _stored(info):
            raise ValueError(f"an outlet name is {len(value):,} characters long: at most {OUTLET_NAME_MAX} are"
                             " allowed")
        return value

    @field_validator("url", "archive_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _url_field(value, info, "the outlet URL" if info.field_name == "url" else "the archived URL")

    @model_validator(mode="after")
    def _not_empty(self) -> Outlet:
        if not self.name and not self.url:
            raise ValueError("an outlet needs a name or a URL")
        return self


class Case(BaseModel):
    """One debunked disinformation case.

    `id` may be left empty by an importer: the store assigns a slug. `version`,
    `created_at` and `updated_at` are owned by the store, and so is `narratives`: the ids
    of the narratives the case belongs to, computed by `narratives build` (and the
    analysts' merges and splits) and filled in whenever the store reads the case. A value
    given on import or edit is not kept: membership has one home, the narrative book.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    id: str = ""
    url: str | None = None
    title: Text
    summary: Text = ""
    disproof: Text = ""
    published: date | None = None
    issue: int | None = Field(default=None, ge=1, le=100_000)
    languages: list[str] = []
    countries: list[str] = []
    keywords: list[str] = []
    outlets: list[Outlet] = []
    links: list[str] = []
    related: list[str] = []
    narratives: list[str] = []
    reported_by: str = ""
    version: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None


    @classmethod
    def stored(cls, doc: str | bytes) -> Case:
        """A case as the database holds it (JSON): checked when it was written, so rules
        added since (URL schemes, date range, list bounds) do not make it unreadable."""
        return cls.model_validate_json(doc, context=STORED)

    @field_validator("*", mode="before")
    @classmethod
    def _controls(cls, value: object) -> object:
        return _without_controls(value)

    @field_validator("published", mode="before")
    @classmethod
    def _published(cls, value: object) -> object:
        # pydantic would read a number as a Unix timestamp: in case data it is a mistake.
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError("a date is written YYYY-MM-DD, not as a number")
        return value

    @field_validator("published")
    @classmethod
    def _plausible(cls, value: date | None, info: ValidationInfo) -> date | None:
        if value is None or _stored(info):
            return value
        earliest, latest = plausible_dates()
        if not earliest <= value <= latest:
            raise ValueError(f"{value.isoformat()} is outside the plausible publication dates"
                             f" {earliest.isoformat()}..{latest.isoformat()}")
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = " ".join(_clean_text(value).split())
        while value.lower().startswith("disinfo:"):  # all of them, so validation is idempotent
            value = value[len("disinfo:") :].strip()
        if not value:
            raise ValueError("a case needs a title")
        return value

    @field_validator("summary", "disproof", "reported_by")
    @classmethod
    def _text(cls, value: str) -> str:
        return _clean_text(value)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        if len(value) > ID_MAX:
            raise ValueError(f"id is {len(value):,} characters long: at most {ID_MAX} are allowed")
        if not _ID.fullmatch(value):
            others = sorted({ch for ch in value if not (ch.isascii() and (ch.islower() or ch.isdigit() or ch == "-"))})
            rule = ("may only hold lowercase ascii letters, digits and -, not " + " ".join(repr(ch) for ch in others)
                    if others else "must not start or end with - nor hold --")
            raise ValueError(f"id {value!r} is not a slug: it {rule}")
        return value

    @field_validator("url")
    @classmethod
    def _case_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        return _url_field(value, info, "the case URL")

    @field_validator("languages", mode="before")
    @classmethod
    def _languages(cls, value: object) -> object:
        if isinstance(value, list):
            return _unique([language_code(str(v)) for v in value if str(v).strip()])
        return value

    @field_validator("countries", mode="before")
    @classmethod
    def _countries(cls, value: object) -> object:
        if isinstance(value, list):
            return _unique([country_name(str(v)) for v in value])
        return value

    @field_validator("languages", "countries", "keywords", "outlets", "links", "related", "narratives",
                     mode="before")
    @classmethod
    def _bounded(cls, value: object, info: ValidationInfo) -> object:
        """Refuse oversized lists before any value is normalised (that alone would be slow):
        defined after the other before-validators, so pydantic runs it first."""
        name = info.field_name or ""
        most, longest = LIST_BOUNDS[name]
        if not isinstance(value, list) or _stored(info):
            return value
        if len(value) > most:
            raise ValueError(f"{len(value):,} {name} given: at most {most} are allowed")
        for number, item in enumerate(value, start=1):
            if longest and isinstance(item, str) and len(item) > longest:
                raise ValueError(f"{name} value {number} is {len(item):,} characters long: at most {longest} are"
                                 " allowed")
        return value

    @field_validator("keywords", "links", "related", "narratives")
    @classmethod
    def _strings(cls, value: list[str]) -> list[str]:
        return _unique([" ".join(v.split()) for v in value])

    @field_validator("links")
    @classmethod
    def _links(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if _stored(info):
            return value
        return [url for number, link in enumerate(value, start=1)
                if (url := _checked_url(link, f"link {number}")) is not None]

    @property
    def content_id(self) -> str:
        """A stable id from what identifies a case when it has no id or URL.

        Title + date + first outlet URL: the same case scraped twice gets the same one.
        """
        first_url = next((o.url for o in self.outlets if o.url), "")
        published = self.published.isoformat() if self.published else ""
        basis = "\x1f".join([fold(self.title), published, first_url])
        return hashlib.sha1(basis.encode()).hexdigest()[:16]

    def base_slug(self) -> str:
        """The slug this case would like as its id: from its URL, else its title."""
        if self.url:
            tail = unquote(self.url.rstrip("/").rsplit("/", 1)[-1])
            slug = slugify(tail, max_length=SLUG_MAX)
            if slug:
                return slug
        return slugify(self.title, max_length=SLUG_MAX, word_boundary=True) or self.content_id

    def content(self) -> dict[str, object]:
        """The case's data without store bookkeeping: what decides 'changed or not' (the
        computed narratives are bookkeeping too: re-importing an export is no change)."""
        return self.model_dump(mode="json", exclude={"version", "created_at", "updated_at", "narratives"})

    def document(self) -> str:
        """The JSON the store keeps: everything but the computed `narratives`, so that a
        stored document never holds a membership that a later build has changed."""
        return self.model_dump_json(exclude={"narratives"})
