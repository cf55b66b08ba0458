"""The Case model: validation and normalisation, identity (content_id, base_slug)."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import pycountry
import pytest
from pydantic import ValidationError

from disinfodb.cases import SLUG_MAX, Case, Outlet
from disinfodb.vocab import country_name, fold, language_code, language_name


def errors_of(**fields: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        Case(**fields)
    return caught.value.errors()  # type: ignore[return-value]


# -- title --------------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["", "   ", "\n\t", "Disinfo:", "disinfo:   ", "\u00a0"])
def test_empty_title_is_an_error(title: str) -> None:
    errors = errors_of(title=title)
    assert [e["loc"] for e in errors] == [("title",)]
    assert "a case needs a title" in errors[0]["msg"]


def test_missing_title_is_an_error() -> None:
    errors = errors_of(summary="no title")
    assert ("title",) in [e["loc"] for e in errors]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Disinfo: The EU is collapsing", "The EU is collapsing"),
        ("DISINFO:The EU is collapsing", "The EU is collapsing"),
        ("  disinfo:   The   EU\nis collapsing  ", "The EU is collapsing"),
        ("The EU is collapsing", "The EU is collapsing"),
        ("Not a Disinfo: prefix", "Not a Disinfo: prefix"),
    ],
)
def test_title_prefix_stripped_and_whitespace_collapsed(raw: str, expected: str) -> None:
    assert Case(title=raw).title == expected


def test_title_prefix_stripping_is_idempotent() -> None:
    """A stored case must survive re-validation (every import of an export re-validates)."""
    case = Case(title="Disinfo: Disinfo: the title names the format")
    assert Case.model_validate(case.content()).content() == case.content()


# -- text fields --------------------------------------------------------------------------


def test_text_fields_are_cleaned() -> None:
    case = Case(title="t", summary="\ufeff  first\u00a0 line  \r\nsecond\n\n\n\n  third  \n\n",
                disproof="  a \n\n\n b ", reported_by="  Promote   Ukraine ")
    assert case.summary == "first line\nsecond\n\nthird"
    assert case.disproof == "a\n\nb"
    assert case.reported_by == "Promote Ukraine"


# -- languages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Castilian", "es"),
        ("Spanish", "es"),
        ("Moldavian", "ro"),
        ("Moldovan", "ro"),
        ("Romanian", "ro"),
        ("Russian", "ru"),
        ("russian", "ru"),
        ("  RUSSIAN ", "ru"),
        ("ru", "ru"),
        ("rus", "ru"),
        ("Greek", "el"),
        ("Georgian", "ka"),
        ("Ukrainian", "uk"),
        ("Czech", "cs"),
        ("Arabic", "ar"),
        ("English", "en"),
        ("Português (Brazil)", "pt"),
        ("Farsi", "fa"),
        ("Montenegrin", "cnr"),
        # The scrapes sometimes put the target country in the language field.
        ("Moldova", "ro"),
        ("Germany", "de"),
        ("Spain", "es"),
        ("Venezuela", "es"),
    ],
)
def test_language_names_become_iso_codes(name: str, code: str) -> None:
    assert Case(title="t", languages=[name]).languages == [code]
    assert language_code(name) == code


def test_unknown_language_error_names_it() -> None:
    errors = errors_of(title="t", languages=["Russian", "Elvish Sindarin"])
    assert [e["loc"] for e in errors] == [("languages",)]
    assert "Elvish Sindarin" in errors[0]["msg"]
    with pytest.raises(ValueError, match="unknown language 'Elvish Sindarin'"):
        language_code("Elvish Sindarin")


def test_blank_languages_are_ignored() -> None:
    assert Case(title="t", languages=["", "  ", "ru"]).languages == ["ru"]


def test_language_codes_are_fixed_points() -> None:
    """Every code language_code() returns must map to itself, or a re-import changes the case."""
    codes = {getattr(lang, "alpha_2", None) or lang.alpha_3 for lang in pycountry.languages}
    assert {"ru", "es", "cnr"} <= codes
    moved = {code: language_code(code) for code in sorted(codes) if language_code(code) != code}
    assert moved == {}


@pytest.mark.parametrize(("code", "name"), [("ru", "Russian"), ("es", "Spanish"), ("el", "Greek"),
                                            ("xx-unknown", "xx-unknown")])
def test_language_name_for_display(code: str, name: str) -> None:
    assert language_name(code) == name


# -- countries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("USA", "US"),
        ("United States", "US"),
        ("united states of america", "US"),
        ("United  Kingdom", "UK"),
        ("Great Britain", "UK"),
        ("Kirgizstan", "Kyrgyzstan"),
        ("Russian Federation", "Russia"),
        ("Czechia", "Czech Republic"),
        ("FYROM", "North Macedonia"),
        ("West", "The West"),
        ("Netherlands", "The Netherlands"),
        ("Holy See", "Vatican"),
        ("  Ukraine  ", "Ukraine"),
        ("Kazakhstan", "Kazakhstan"),
    ],
)
def test_country_aliases_normalised(raw: str, expected: str) -> None:
    assert Case(title="t", countries=[raw]).countries == [expected]
    assert country_name(expected) == expected  # normalised names are fixed points


# -- duplicates ---------------------------------------------------------------------------


def test_duplicates_dropped_keeping_first_spelling_and_order() -> None:
    case = Case(
        title="t",
        languages=["Russian", "ru", "English", "rus", "en"],
        countries=["USA", "Russia", "US", "United States", "russia"],
        keywords=["Crimea", "crimea", " Crimea ", "Colour  revolutions", "colour revolutions", "",
                  "Erdoğan", "Erdogan"],
        links=["http://a", "http://a", "http://b"],
        related=["x", "X"],
        narratives=["n", "n"],
    )
    assert case.languages == ["ru", "en"]
    assert case.countries == ["US", "Russia"]
    assert case.keywords == ["Crimea", "Colour revolutions", "Erdoğan"]
    assert case.links == ["http://a", "http://b"]
    assert case.related == ["x"]
    assert case.narratives == ["n"]


# -- id, issue, outlets -------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Not A Slug", "UPPER", "has_underscore", "spaces in it", "ünïcode",
                                 "trailing-", "-leading", "a--b", "dots.in.it"])
def test_bad_id_slug_rejected(bad: str) -> None:
    errors = errors_of(title="t", id=bad)
    assert [e["loc"] for e in errors] == [("id",)]
    assert "is not a slug" in errors[0]["msg"]


@pytest.mark.parametrize("good", ["", "a", "german-special-services-helped-navalny", "case-2021-1"])
def test_good_id_accepted(good: str) -> None:
    assert Case(title="t", id=good).id == good


def test_id_is_checked_on_assignment_too() -> None:
    case = Case(title="t")
    with pytest.raises(ValidationError):
        case.id = "Bad Id"


@pytest.mark.parametrize("issue", [0, -1, 100_001])
def test_issue_out_of_range_rejected(issue: int) -> None:
    assert [e["loc"] for e in errors_of(title="t", issue=issue)] == [("issue",)]


@pytest.mark.parametrize("issue", [1, 270, 100_000])
def test_issue_in_range_accepted(issue: int) -> None:
    assert Case(title="t", issue=issue).issue == issue


def test_issue_from_numeric_string() -> None:
    assert Case.model_validate({"title": "t", "issue": "82"}).issue == 82


def test_outlet_needs_name_or_url() -> None:
    with pytest.raises(ValidationError, match="an outlet needs a name or a URL"):
        Outlet(name="  ", url="  ")
    outlet = Outlet(name="  TV   Zvezda ", url=" https://tvzvezda.ru/ ", archive_url="")
    assert outlet == Outlet(name="TV Zvezda", url="https://tvzvezda.ru/", archive_url=None)
    with pytest.raises(ValidationError):
        Case.model_validate({"title": "t", "outlets": [{"name": "", "url": None}]})


def test_unknown_field_rejected() -> None:
    assert [e["loc"] for e in errors_of(title="t", colour="red")] == [("colour",)]


def test_blank_url_becomes_none() -> None:
    assert Case(title="t", url="   ").url is None


# -- content_id ---------------------------------------------------------------------------


def _case(**fields: Any) -> Case:
    base: dict[str, Any] = {
        "title": "Explosions in Vinnitsa were organized by Ukrainian soldiers",
        "published": date(2017, 10, 3),
        "outlets": [{"name": "TV Zvezda", "url": "https://tvzvezda.ru/news/1"}],
    }
    return Case(**(base | fields))


def test_content_id_value_is_stable() -> None:
    """Pinned: title (folded) + date + first outlet URL, sha1, 16 hex digits."""
    basis = "\x1f".join([fold("Explosions in Vinnitsa were organized by Ukrainian soldiers"),
                         "2017-10-03", "https://tvzvezda.ru/news/1"])
    assert _case().content_id == hashlib.sha1(basis.encode()).hexdigest()[:16]
    assert len(_case().content_id) == 16


def test_content_id_ignores_what_does_not_identify() -> None:
    reference = _case().content_id
    assert _case(summary="other", disproof="other", keywords=["k"], issue=3, languages=["ru"],
                 id="some-id", url="https://euvsdisinfo.eu/report/x/").content_id == reference
    # Case and accents of the title do not matter, nor does a "Disinfo:" prefix.
    assert _case(title="EXPLOSIONS in Vinnitsa were organized by Ukrainian soldiers").content_id == reference
    assert _case(title="Disinfo: Explosions in Vinnitsa were organized by Ukrainian soldiers"
                 ).content_id == reference
    # Only the first outlet URL counts: outlets without one are passed over, later ones ignored.
    assert _case(outlets=[{"name": "no url"}, {"url": "https://tvzvezda.ru/news/1"},
                          {"url": "https://other"}]).content_id == reference


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Explosions in Vinnitsa were organized by the EU"},
        {"published": date(2017, 10, 4)},
        {"published": None},
        {"outlets": [{"name": "TV Zvezda", "url": "https://tvzvezda.ru/news/2"}]},
        {"outlets": []},
    ],
)
def test_content_id_depends_on_title_date_and_first_outlet_url(change: dict[str, Any]) -> None:
    assert _case(**change).content_id != _case().content_id


# -- base_slug ----------------------------------------------------------------------------


def test_base_slug_from_url_tail() -> None:
    case = Case(title="German special services helped Navalny",
                url="https://euvsdisinfo.eu/report/german-special-services-helped-navalny/")
    assert case.base_slug() == "german-special-services-helped-navalny"
    assert Case(title="t", url="https://example.org/report/Some_Case?x").base_slug() == "some-case-x"


@pytest.mark.parametrize(("url", "slug"), [
    ("https://euvsdisinfo.eu/report/the-malm%c3%b6-police-is-flooded/", "the-malmo-police-is-flooded"),
    ("https://euvsdisinfo.eu/report/angela-merkel-is-a-f%c3%bchrer/", "angela-merkel-is-a-fuhrer"),
    ("https://euvsdisinfo.eu/report/97-%d1%82%d0%b0%d0%ba%d0%be%d0%b2%d0%b0/", "97-takova"),
])
def test_base_slug_decodes_percent_escapes(url: str, slug: str) -> None:
    """The 2021 scrape's URLs are percent-encoded: the id is the slug of the decoded text."""
    assert Case(title="t", url=url).base_slug() == slug


def test_base_slug_from_title_without_url() -> None:
    case = Case(title="Kazakhstan’s destabilisation attempts to obstruct EEU membership and "
                      "China’s new Silk Road")
    slug = case.base_slug()
    assert slug == "kazakhstans-destabilisation-attempts-to-obstruct-eeu-membership-and-chinas-new"
    assert len(slug) <= SLUG_MAX
    assert Case(title="Erdoğan’s plan").base_slug() == "erdogans-plan"


def test_base_slug_falls_back_to_title_then_content_id() -> None:
    assert Case(title="A title", url="https://example.org/---/").base_slug() == "a-title"
    nothing = Case(title="!!! ???")
    assert nothing.base_slug() == nothing.content_id
