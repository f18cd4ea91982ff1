"""Text <-> word tokens.

Words and punctuation are separate tokens (``long ago , the``), apostrophes stay inside
words (``don't``, ``mouse's``), numbers stay whole (``3.14``, ``1,000``). WikiText's
escaped separators (``@-@``) become the plain character and its ``<unk>`` stays one token.
Control characters (ESC, BEL, BS, DEL, C1 …) separate tokens like whitespace and are never
part of one: a terminal would obey them rather than show them, and no text means them.

``Tokenizer.WHITESPACE`` is for pre-tokenised corpora (WikiText, PTB): tokens are what lies
between whitespace, case is kept, and every line ends with ``<eos>``, exactly as
pytorch/examples word_language_model reads them, so perplexities compare with published ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

UNK = "<unk>"
EOS = "<eos>"


class Tokenizer(str, Enum):
    WORDS = "words"  # words and punctuation apart, lowercased unless asked not to
    WHITESPACE = "whitespace"  # split on whitespace only, case kept, <eos> at each line end

    def __str__(self) -> str:  # "words", not "Tokenizer.WORDS", wherever it is shown
        return self.value


_WIKITEXT_SEPARATORS = {"@-@": "-", "@,@": ",", "@.@": "."}
_TOKEN = re.compile(
    r"<unk>"
    r"|@[-,.]@"  # WikiText's escaped separators: well @-@ known, 1 @,@ 000
    r"|\d+(?:[.,]\d+)+"  # numbers with separators: 3.14, 1,000
    r"|[^\W_]+(?:['’][^\W_]+)*"  # words, apostrophes inside: don't, mouse's
    r"|[^\s\x00-\x1f\x7f-\x9f]",  # anything else, one character at a time; controls split
)
_SEPARATORS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")  # whitespace tokens: controls split too
_PARTIAL_WORD = re.compile(  # the word being typed: it may still grow
    r"(?:(?<![^\W_])\d+(?:[.,]\d+)+"  # a number with separators: 3.1 (on its way to 3.14)
    r"|[^\W_]+(?:['’][^\W_]+)*['’]?)\Z"  # a word, maybe with an apostrophe: don'
)

# Detokenizer spacing: these attach to the token before them / after them.
_NO_SPACE_BEFORE = frozenset(",.;:?!%)]}…")
_NO_SPACE_AFTER = frozenset("([{$#")
_JOINERS = frozenset("-/")  # well-known, and/or: no space on either side
_OPEN_QUOTES = frozenset("“‘«")
_CLOSE_QUOTES = frozenset("”’»")
_TOGGLE_QUOTES = frozenset("\"'")


def tokenize(text: str, lowercase: bool = True, kind: Tokenizer = Tokenizer.WORDS) -> list[str]:
    """Split text into word and punctuation tokens (or whitespace tokens, see ``Tokenizer``)."""
    if kind == Tokenizer.WHITESPACE:
        return _whitespace_tokens(text)
    tokens = [_WIKITEXT_SEPARATORS.get(t, t) for t in _TOKEN.findall(text)]
    if not lowercase:
        return tokens
    lowered = [t.lower() for t in tokens]  # <unk> is lowercase already
    if text.isascii():
        return lowered
    # "İ" lowercases to "i" + a combining dot, which is not a word character: re-split such
    # tokens as tokenize would read them back, so that tokenizing is idempotent.
    out: list[str] = []
    for t, low in zip(tokens, lowered, strict=True):
        if low == t or _TOKEN.fullmatch(low):
            out.append(low)
        else:
            out.extend(_TOKEN.findall(low))
    return out


def _whitespace_tokens(text: str) -> list[str]:
    """Whitespace tokens; a line that ends (in a newline) adds ``<eos>``.

    The last piece of text has no newline after it: a prompt being typed is not a line that
    ended, and a file ending in a newline ends with ``<eos>``, once.
    """
    lines = text.split("\n")
    out: list[str] = []
    for line in lines[:-1]:
        out.extend(t for t in _SEPARATORS.split(line) if t)
        out.append(EOS)
    out.extend(t for t in _SEPARATORS.split(lines[-1]) if t)
    return out


def split_partial(
    text: str, lowercase: bool = True, kind: Tokenizer = Tokenizer.WORDS
) -> tuple[list[str], str]:
    """Split typed text into its complete tokens and the word still being typed.

    ``"the ca"`` gives ``(["the"], "ca")``; ``"the cat "`` gives ``(["the", "cat"], "")``.
    The partial word keeps the user's case.
    """
    if kind == Tokenizer.WHITESPACE:
        tokens = _whitespace_tokens(text)
        if tokens and text and not text[-1].isspace():
            return tokens[:-1], tokens[-1]
        return tokens, ""
    match = _PARTIAL_WORD.search(text)
    if match is None:
        return tokenize(text, lowercase), ""
    return tokenize(text[: match.start()], lowercase), match.group()


def detokenize(tokens: Iterable[str], kind: Tokenizer = Tokenizer.WORDS) -> str:
    """Join tokens into readable text: ``["cat", ",", "said", "he"]`` -> ``cat, said he``.

    No space before closing punctuation, none inside quotes, none after an opening
    bracket. A space is only dropped where the text still splits into the same tokens.
    Whitespace tokens are joined by spaces, ``<eos>`` ending a line.
    """
    if kind == Tokenizer.WHITESPACE:
        return " ".join(tokens).replace(f" {EOS} ", "\n").replace(EOS, "\n").strip(" ")
    out: list[str] = []
    recent: list[str] = []  # the last two tokens, as written, to check a join against
    quote_open = dict.fromkeys(_TOGGLE_QUOTES, False)
    attach_next = False
    for token in tokens:
        attach = attach_next
        attach_next = False
        if token in _TOGGLE_QUOTES:
            if quote_open[token]:
                attach = True  # a closing quote hugs the word before it
            else:
                attach_next = True  # an opening quote hugs the word after it
            quote_open[token] = not quote_open[token]
        elif token in _NO_SPACE_BEFORE or token in _CLOSE_QUOTES or token in _JOINERS:
            attach = True
        if token in _NO_SPACE_AFTER or token in _OPEN_QUOTES or token in _JOINERS:
            attach_next = True
        joined = attach and _splits_back("".join(recent) + token, [*recent, token])
        if out and not joined:
            out.append(" ")
            recent = []
        out.append(token)
        recent = ([*recent, token])[-2:]
    return "".join(out)


def _splits_back(text: str, tokens: list[str]) -> bool:
    return tokenize(text, lowercase=False) == tokens
