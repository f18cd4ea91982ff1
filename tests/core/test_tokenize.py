"""Tokenizer properties (hypothesis) and the cases the spec names."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lstm_tui.core.text.tokenize import UNK, detokenize, split_partial, tokenize

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces that exercise every rule: words, apostrophes, numbers, punctuation, quotes, brackets,
# WikiText separators, <unk>, odd unicode and whitespace of every kind.
_PIECES = st.sampled_from(
    [
        "cat", "The", "mouse's", "don't", "O’Neil", "3.14", "1,000", "42", "", " ", "  ", "\n",
        "\t", "\u00a0", "\u2009", ",", ".", ";", ":", "?", "!", "'", '"', "“", "”", "‘", "’",
        "(", ")", "[", "]", "{", "}", "-", "/", "$", "#", "%", "…", "«", "»", "@-@", "@,@",
        "@.@", "@", "<unk>", "<", ">", "_", "é", "İ", "ß", "Σ", "日本", "٣", "x1", "'s", "’t",
    ]
)  # fmt: skip
TEXTY = st.lists(_PIECES, max_size=25).map("".join)
ANY_TEXT = st.text(max_size=40)
TEXTS = st.one_of(TEXTY, ANY_TEXT)
SEPARATORS = re.compile(r"@([-,.])@")


@PROPERTY
@given(TEXTS)
@example("He said: \"don't\" -- (well-known) 1,000.5 cats'!")
def test_detokenize_round_trip_keeping_case(text: str) -> None:
    tokens = tokenize(text, lowercase=False)
    assert tokenize(detokenize(tokens), lowercase=False) == tokens


@PROPERTY
@given(TEXTS)
@example("İstanbul")  # lowercases to i + a combining dot, which is not a word character
@example("ΑΣ.Β")
def test_tokenize_is_idempotent(text: str) -> None:
    for lowercase in (True, False):
        tokens = tokenize(text, lowercase)
        assert tokenize(" ".join(tokens), lowercase) == tokens
        assert tokenize(detokenize(tokens), lowercase) == tokens


@PROPERTY
@given(TEXTS)
def test_tokens_are_nonempty_and_hold_no_whitespace(text: str) -> None:
    for lowercase in (True, False):
        for token in tokenize(text, lowercase):
            assert token
            assert not any(ch.isspace() for ch in token)


@PROPERTY
@given(TEXTS)
def test_every_non_space_character_is_kept_in_order(text: str) -> None:
    """Control characters (C0, DEL, C1) separate tokens like spaces: never part of one."""

    def kept(ch: str) -> bool:
        return not ch.isspace() and not ("\x00" <= ch <= "\x1f" or "\x7f" <= ch <= "\x9f")

    expected = "".join(ch for ch in SEPARATORS.sub(r"\1", text) if kept(ch))
    assert "".join(tokenize(text, lowercase=False)) == expected


@PROPERTY
@given(TEXTS)
@example("İs THE Cat")
def test_lowercase_option(text: str) -> None:
    kept = tokenize(text, lowercase=False)
    lowered = tokenize(text)
    assert all(t == t.lower() for t in lowered)
    assert "".join(lowered) == "".join(t.lower() for t in kept)
    if text.isascii():
        assert lowered == tokenize(text.lower(), lowercase=False)


def test_lowercase_is_default_and_can_be_turned_off() -> None:
    assert tokenize("The Cat SAID") == ["the", "cat", "said"]
    assert tokenize("The Cat SAID", lowercase=False) == ["The", "Cat", "SAID"]


def test_apostrophes_stay_inside_words() -> None:
    assert tokenize("don't touch the mouse's tail, O’Neil") == [
        "don't",
        "touch",
        "the",
        "mouse's",
        "tail",
        ",",
        "o’neil",
    ]
    # Quotes around words are not part of them.
    assert tokenize("'hello' said the cats' owner") == [
        "'",
        "hello",
        "'",
        "said",
        "the",
        "cats",
        "'",
        "owner",
    ]


def test_numbers_are_kept_whole() -> None:
    assert tokenize("in 1999 it cost 3.14 or 1,000,000 - 42.") == [
        "in",
        "1999",
        "it",
        "cost",
        "3.14",
        "or",
        "1,000,000",
        "-",
        "42",
        ".",
    ]


def test_punctuation_is_separate() -> None:
    assert tokenize("Long ago, the cat. Who? Yes! (a; b: c)") == [
        "long",
        "ago",
        ",",
        "the",
        "cat",
        ".",
        "who",
        "?",
        "yes",
        "!",
        "(",
        "a",
        ";",
        "b",
        ":",
        "c",
        ")",
    ]


def test_wikitext_separators_and_unk() -> None:
    assert tokenize("a well @-@ known <unk> of 1 @,@ 000") == [
        "a",
        "well",
        "-",
        "known",
        UNK,
        "of",
        "1",
        ",",
        "000",
    ]


def test_the_fable_is_already_tokenized(fable_text: str) -> None:
    tokens = tokenize(fable_text)
    assert tokens == fable_text.split()
    assert len(tokens) == 204


def test_detokenize_is_readable() -> None:
    assert detokenize(["long", "ago", ",", "the", "cat", "."]) == "long ago, the cat."
    assert detokenize(["he", "said", '"', "hello", '"', "."]) == 'he said "hello".'
    assert detokenize(["who", "?", "me", "!", "a", ";", "b", ":", "c"]) == "who? me! a; b: c"
    assert detokenize(["(", "yes", ")", "and", "“", "no", "”"]) == "(yes) and “no”"
    assert detokenize(["well", "-", "known", "and", "/", "or"]) == "well-known and/or"
    assert detokenize([]) == ""


def test_detokenize_never_glues_tokens_into_other_tokens() -> None:
    # Joining "1", ",", "000" or "@", "-", "@" would read back differently: keep a space.
    for tokens in (["1", ",", "000"], ["@", "-", "@"], ["a", "-", "'", "b"]):
        assert tokenize(detokenize(tokens), lowercase=False) == tokens


def test_split_partial_examples() -> None:
    assert split_partial("the ca") == (["the"], "ca")
    assert split_partial("the cat ") == (["the", "cat"], "")
    assert split_partial("") == ([], "")
    assert split_partial("The Ca") == (["the"], "Ca")  # the partial word keeps its case
    assert split_partial("The Ca", lowercase=False) == (["The"], "Ca")
    assert split_partial("ago, the") == (["ago", ","], "the")
    assert split_partial("ago,") == (["ago", ","], "")
    assert split_partial("the mouse's") == (["the"], "mouse's")
    assert split_partial("the don'") == (["the"], "don'")  # an apostrophe may still grow
    assert split_partial("it cost 3.14 ") == (["it", "cost", "3.14"], "")
    assert split_partial("pi is 3.1") == (["pi", "is"], "3.1")  # a number still being typed
    assert split_partial("it cost 1,0") == (["it", "cost"], "1,0")
    assert split_partial("pi is 3.") == (["pi", "is", "3", "."], "")
    assert split_partial("x1.5") == (["x1", "."], "5")  # as tokenize reads "x1.5"


@PROPERTY
@given(TEXTS)
def test_split_partial_agrees_with_tokenize(text: str) -> None:
    for lowercase in (True, False):
        tokens, partial = split_partial(text, lowercase)
        if partial:
            assert text.endswith(partial)
            assert not any(ch.isspace() for ch in partial)
            assert tokens == tokenize(text[: -len(partial)], lowercase)
        else:
            assert tokens == tokenize(text, lowercase)
        if text[-1:].isspace() or not text:
            assert partial == ""
