"""Splitting input text into the units claim matching compares (disinfodb.text)."""

from __future__ import annotations

import pytest

from disinfodb.text import MIN_CHARS, clean, sentences, units


def test_english_abbreviations_and_initials_do_not_end_a_sentence() -> None:
    text = ("U.S. officials met J. Smith in Washington on Monday. He said the deal is off! "
            "Is it over? See No. 5 for the details.")
    assert sentences(text) == [
        "U.S. officials met J. Smith in Washington on Monday.",
        "He said the deal is off!",
        "Is it over?",
        "See No. 5 for the details.",
    ]


def test_quotes_after_the_full_stop_stay_with_their_sentence() -> None:
    text = 'He said: "The West is lying." «Nobody believes it.» Then he left.'
    assert sentences(text) == ['He said: "The West is lying."', "«Nobody believes it.»", "Then he left."]


def test_lines_are_boundaries() -> None:
    text = "A title without a full stop\n\nThe first paragraph. Its second sentence.\n- a list item"
    assert sentences(text) == ["A title without a full stop", "The first paragraph.",
                               "Its second sentence.", "- a list item"]


def test_russian() -> None:
    text = ("Взрывы в Виннице организовали украинские военные. Они украли много оружия! "
            "Об этом сказал В. Иванов, т. е. свидетель.")
    assert sentences(text) == [
        "Взрывы в Виннице организовали украинские военные.",
        "Они украли много оружия!",
        "Об этом сказал В. Иванов, т. е. свидетель.",
    ]


def test_georgian() -> None:
    # Georgian (Mkhedruli) has no capitals: any letter may start the next sentence.
    text = "ნატო ამზადებს გადატრიალებას ყაზახეთში. ეს ტყუილია! რატომ?"
    assert sentences(text) == ["ნატო ამზადებს გადატრიალებას ყაზახეთში.", "ეს ტყუილია!", "რატომ?"]


def test_cjk_punctuation_followed_by_a_space() -> None:
    assert sentences("北约正在准备政变。 这是假的！ 真的吗？") == [
        "北约正在准备政变。", "这是假的！", "真的吗？"]


def test_cjk_sentences_without_spaces_are_split() -> None:
    # Chinese and Japanese put no space after 。！？: that is how nearly all such text is written.
    assert sentences("北约正在准备政变。这是假的！真的吗？") == [
        "北约正在准备政变。", "这是假的！", "真的吗？"]
    assert sentences("ウクライナは戦争を始めた。それは嘘だ。") == [
        "ウクライナは戦争を始めた。", "それは嘘だ。"]


def test_arabic_question_mark() -> None:
    assert sentences("هل الناتو يستعد لانقلاب؟ هذا كذب.") == ["هل الناتو يستعد لانقلاب؟", "هذا كذب."]


def test_clean_removes_urls_and_keeps_hashtag_words() -> None:
    text = ("Crimea was always #Russian, says @RT_com https://t.co/AbC123 and "
            "www.example.com/page?x=1 also http://example.org.")
    assert clean(text) == "Crimea was always Russian, says RT_com and also"


def test_clean_removes_the_tweet_tail() -> None:
    tweet = ("NATO is preparing a coup in #Kazakhstan https://t.co/xyz "
             "— Ivan Petrov (@ipetrov) February 25, 2016")
    assert clean(tweet) == "NATO is preparing a coup in Kazakhstan"
    # A name with an emoji (common in the CheckThat! tweets) and an en dash are tails too.
    assert clean("The CBC deleted Trump — Brad Trost 🇨🇦 (@BradTrostCPC) December 26, 2019") == \
        "The CBC deleted Trump"
    # A dash inside the text is not a tail.
    assert clean("NATO — and only NATO — wants this") == "NATO — and only NATO — wants this"


def test_clean_removes_twitter_picture_links() -> None:
    # Half of the CheckThat! tweets carry a scheme-less pic.twitter.com link before the tail.
    tweet = ("Footage of butterflies in a wombat hole pic.twitter.com/0eJtwJyS1J "
             "— Center for Bio Div (@CenterForBioDiv) January 14, 2020")
    assert clean(tweet) == "Footage of butterflies in a wombat hole"


def test_clean_turns_control_characters_into_spaces() -> None:
    assert clean("NATO\x00is\x07preparing\ta coup\r\n") == "NATO is preparing a coup"


def test_units_of_one_sentence_is_that_sentence() -> None:
    assert units("NATO is preparing a coup in Kazakhstan.", 10) == ["NATO is preparing a coup in Kazakhstan."]


@pytest.mark.parametrize("count", [2, 3, 4])
def test_units_add_the_whole_text_for_two_to_four_sentences(count: int) -> None:
    parts = [f"This is sentence number {n} of the text." for n in range(count)]
    assert units(" ".join(parts), 10) == [*parts, " ".join(parts)]


def test_units_do_not_add_the_whole_text_for_five_sentences() -> None:
    parts = [f"This is sentence number {n} of the text." for n in range(5)]
    assert units(" ".join(parts), 10) == parts


def test_units_merge_a_short_sentence_with_the_next() -> None:
    text = "Listen! NATO is preparing a coup in Kazakhstan."
    assert len("Listen!") < MIN_CHARS
    assert units(text, 10) == [text]


def test_units_are_capped_evenly_over_the_text() -> None:
    parts = [f"This is sentence number {n} of the text." for n in range(100)]
    chosen = units(" ".join(parts), 10)
    assert len(chosen) == 10
    assert chosen == [parts[n] for n in range(0, 100, 10)]


def test_units_of_empty_text() -> None:
    assert units("", 10) == []
    assert units(" \n\t ", 10) == []


def test_lowercase_sentences_and_abbreviations() -> None:
    """Social-media text often has no capitals; abbreviations still do not end sentences."""
    assert sentences("the west lies. nato attacks. it was approx. five. Gen. Smith agreed.") == [
        "the west lies.", "nato attacks.", "it was approx. five.", "Gen. Smith agreed."]
    assert sentences("The U.S. officials said so. В 2014 г. Россия напала.") == [
        "The U.S. officials said so.", "В 2014 г. Россия напала."]


def test_cleaning_and_splitting_stay_linear() -> None:
    """A long run of spaces or many short sentences must not take quadratic time."""
    import time  # noqa: PLC0415

    started = time.perf_counter()
    clean("ab " + " " * 200_000 + "cd — Name (@handle) February 25, 2016")
    sentences("word. " * 100_000)
    assert time.perf_counter() - started < 5
