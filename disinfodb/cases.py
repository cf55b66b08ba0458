"""The Case model: what one debunked disinformation case is, and what makes it valid.

Every importer builds Cases and every exporter reads them, so normalisation (language
codes, country spellings, whitespace) happens once, here, in validators.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from typing import Annotated
from urllib.parse import unquote

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from slugify import slugify

from disinfodb.vocab import country_name, fold, language_code

SLUG_MAX = 80


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
    """A place where the disinformation was published."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = ""
    url: str | None = None
    archive_url: str | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _controls(cls, value: object) -> object:
        return _without_controls(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("url", "archive_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        return value or None

    @model_validator(mode="after")
    def _not_empty(self) -> Outlet:
        if not self.name and not self.url:
            raise ValueError("an outlet needs a name or a URL")
        return self


class Case(BaseModel):
    """One debunked disinformation case.

    `id` may be left empty by an importer: the store assigns a slug. `version`,
    `created_at` and `updated_at` are owned by the store.
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
        if value and slugify(value, max_length=SLUG_MAX + 20) != value:
            raise ValueError(f"id {value!r} is not a slug (lowercase ascii words joined by -)")
        return value

    @field_validator("url")
    @classmethod
    def _case_url(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        return value or None

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

    @field_validator("keywords", "links", "related", "narratives")
    @classmethod
    def _strings(cls, value: list[str]) -> list[str]:
        return _unique([" ".join(v.split()) for v in value])

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
        """The case's data without store bookkeeping: what decides 'changed or not'."""
        return self.model_dump(mode="json", exclude={"version", "created_at", "updated_at"})
