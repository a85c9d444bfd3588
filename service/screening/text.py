"""Normalising organisation names written in Latin and Cyrillic script.

A name becomes a tuple of canonical tokens: Unicode NFKC, case folded, accents removed,
punctuation dropped, ``&`` read as ``and``, abbreviations expanded (``Univ`` → ``university``,
``Natl`` → ``national``), British spelling (``defense`` → ``defence``), plurals singular, and
words that do not tell organisations apart (``of``, ``the``, legal forms) left out. Matching then
compares token tuples, so two names are the same only when every distinguishing word agrees.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from anyascii import anyascii

from service.screening.vocabulary import (
    ABBREVIATIONS,
    CYRILLIC_HOMOGLYPHS,
    LEGAL_FORMS,
    PLACES,
    SPELLINGS,
    STOPWORDS,
)

_APOSTROPHES = re.compile("['`\u2018\u2019\u00b4]")
_COUNTRY_PHRASES = re.compile(
    r"\b(?:people'?s\s+r(?:ep(?:ublic)?)?\.?\s+(?:of\s+)?china|p\.?\s?r\.?\s?(?:of\s+)?china)\b"
)
_SPLIT = re.compile(r"[^\w]+|_")
_DOTTED_INITIALS = re.compile(r"\b(?:\w\.){2,}\w?\.?")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_MIXED_WORD = re.compile(
    r"\b(?=\w*[a-z])(?=\w*[\u0400-\u04ff])[a-z\u0400-\u04ff]+\b", re.IGNORECASE
)
_TONE_NUMBER = re.compile(r"(?<=[a-z\u00fc])[0-5](?![0-9])")
_POSTCODE = re.compile(r"^\d{4,}$|^[a-z]{1,2}\d[a-z\d]?$|^\d[a-z]{2}$")


def _latin_lookalikes(match: re.Match[str]) -> str:
    return match.group(0).translate(CYRILLIC_HOMOGLYPHS)


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """NFKC, case folding and no accents: the form every comparison starts from.

    A word mixing Latin and Cyrillic letters (Skolkovo typed with Cyrillic o's) is read as Latin:
    such mixtures are typing accidents or spoofing, never a name.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", text).casefold()
    if _CYRILLIC.search(text) and _MIXED_WORD.search(text):
        text = _MIXED_WORD.sub(_latin_lookalikes, text)
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def has_cyrillic(text: str) -> bool:
    return _CYRILLIC.search(text) is not None


def _stem(word: str) -> str:
    """Singular of an English plural, leaving words that only look plural alone."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@lru_cache(maxsize=65536)
def canonical_word(word: str) -> str:
    """One folded word in the form names are compared in (it may become several words)."""
    expanded = ABBREVIATIONS.get(word) or ABBREVIATIONS.get(_stem(word)) or word
    return " ".join(SPELLINGS.get(_stem(part), _stem(part)) for part in expanded.split())


def raw_words(text: str) -> list[str]:
    """The folded words of ``text``, with ``&`` as ``and`` and dotted initials joined."""
    folded = _COUNTRY_PHRASES.sub(" china ", _APOSTROPHES.sub("", fold(text)))
    folded = _DOTTED_INITIALS.sub(lambda m: m.group(0).replace(".", ""), folded)
    return [w for w in _SPLIT.split(folded.replace("&", " and ")) if w]


def name_tokens(text: str, *, keep_legal_forms: bool = False) -> tuple[str, ...]:
    """The canonical tokens of a name: what tells it apart from other names."""
    tokens: list[str] = []
    for word in raw_words(text):
        for part in canonical_word(word).split():
            if part in STOPWORDS or (not keep_legal_forms and part in LEGAL_FORMS):
                continue
            tokens.append(part)
    return tuple(tokens)


def without_postcodes(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """``tokens`` without postal codes (``150001``, ``sw7``), which affiliation lines carry."""
    return tuple(t for t in tokens if not _POSTCODE.match(t))


def is_place(token: str) -> bool:
    return token in PLACES


def initials(text: str) -> str:
    """The acronym a name's initials make, skipping stopwords: NUDT, HIT, UESTC.

    Legal forms count (Aviation Industry Corporation of China gives AICC): initials without
    them are short and mostly someone else's acronym.
    """
    return "".join(
        word[0] for word in raw_words(text) if word not in STOPWORDS and word[0].isalpha()
    )


def compact(text: str) -> str:
    """Letters only, for names written without spaces or with tone marks and numbers.

    ``Hā'ěrbīn Gōngyè Dàxué``, ``ha1 er3 bin1 gong1 ye4 da4 xue2`` and ``HaerbinGongyeDaxue``
    all become ``haerbingongyedaxue``; ``ü`` and its pinyin spelling ``v`` both become ``u``.
    Other digits stay.
    """
    # Numbers stay (Institute 701 is not Institute 702); a tone number after a syllable goes.
    untoned = _TONE_NUMBER.sub("", fold(text))
    return "".join(c for c in untoned if c.isalnum()).replace("v", "u")


_LOOSE_RULES = (
    ("shch", "sh"),
    ("sch", "sh"),
    ("kh", "h"),
    ("ch", "h"),
    ("zh", "z"),
    ("ts", "c"),
    ("tz", "c"),
    ("yu", "u"),
    ("ju", "u"),
    ("iu", "u"),
    ("ya", "a"),
    ("ja", "a"),
    ("ia", "a"),
    ("ye", "e"),
    ("je", "e"),
    ("yo", "o"),
    ("jo", "o"),
    ("iy", "i"),
    ("ij", "i"),
    ("yi", "i"),
    ("ii", "i"),
    ("y", "i"),
    ("j", "i"),
    ("w", "v"),
    ("x", "ks"),
)
_REPEATS = re.compile(r"([a-z])\1+")


def loose_transliteration(text: str) -> str:
    """A key that the usual romanisations of one Cyrillic name share.

    ``Сколковский``, ``Skolkovskiy``, ``Skolkovsky`` and ``Skolkovskij`` all give ``skolkovski``:
    transliteration systems differ mostly in how they write the short i, the hard y, kh, zh, ts
    and the iotated vowels.
    """
    key = "".join(c for c in anyascii(fold(text)).casefold() if c.isalnum())
    for old, new in _LOOSE_RULES:
        key = key.replace(old, new)
    return _REPEATS.sub(r"\1", key)
