"""The screening index: every advisory subject's names, ready to be matched against a query.

Each subject (advisories about the same organisation share one: same ROR id, or same name and
country) contributes *variants*: its names as canonical token tuples (``text.name_tokens``),
acronyms (listed, and derived from its names' initials), Chinese keys (simplified, without the
corporate ending, curated short forms), pinyin, and transliteration keys of Cyrillic names.

A query is split into the parts of an affiliation line (``affiliation.query_parts``); each part
retrieves candidates from an inverted index of tokens (the posting list of its rarest token)
and from exact-key tables, and a candidate matches only when every distinguishing token agrees,
a spelling slip in a long word aside. That rule is what keeps look-alikes apart: "Beijing
Institute of Technology" and "Beijing University of Technology" share every word but one.
Scores (0-1) come from the rule that matched and ``rapidfuzz``'s similarity of the two token
strings.

The index holds every subject, whatever its visibility: ``service.screening.service`` asks the
access policy which advisories of the matched subjects the caller may see, and drops the rest.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.advisories.models import Advisory, AdvisoryRevision
from service.screening.affiliation import QueryPart, query_parts
from service.screening.chinese import (
    chinese_key,
    pinyin_forms,
    place_prefix_ends,
    reduced_forms,
    short_forms,
)
from service.screening.text import (
    canonical_word,
    compact,
    fold,
    has_cjk,
    has_cyrillic,
    initials,
    is_place,
    loose_transliteration,
    name_tokens,
    without_postcodes,
)
from service.screening.vocabulary import (
    AMBIGUOUS_ABBREVIATIONS,
    CHINESE_DISTINCT_HEADS,
    CITIES,
    LEGAL_FORMS,
    PLACES,
    STOPWORDS,
    UNIT_WORDS,
)

logger = logging.getLogger(__name__)

# Shortest keys worth looking up: shorter compact strings or Chinese substrings match by chance.
_MIN_COMPACT = 6
_MIN_CHINESE_IN_LINE = 4
_MAX_ACRONYM = 10
_MIN_SHORT_FORM_IN_LINE = 6
# Candidates up to which a misspelt word is compared against each one rather than looked up.
_COMPARE_IN_PLACE = 500
_SPELLINGS_KEPT = 65536
"""Query words whose spellings a worker keeps (a few MB); past it, it starts again."""


@dataclass(frozen=True)
class Hit:
    """A subject that the query names, before the access policy has had its say."""

    subject: Mapping[str, Any]
    advisory_pks: tuple[int, ...]
    score: float
    matched_on: str
    matched_text: str


@dataclass(eq=False)
class _Subject:
    """One organisation and the advisories (by ``advisories.pk``) that are about it."""

    key: str
    by_pk: dict[int, Mapping[str, Any]]
    alive: bool = True
    entry_count: int = 0

    @property
    def subject(self) -> Mapping[str, Any]:
        # The most recently indexed description wins: it is the newest revision's.
        return next(reversed(self.by_pk.values()))

    @property
    def country(self) -> str:
        return str(self.subject.get("country", ""))


@dataclass(frozen=True, slots=True)
class _Entry:
    """One way of naming a subject: what was written (``label``) and how it is found."""

    subject: _Subject
    label: str
    rule: str
    weight: float


@dataclass(frozen=True, slots=True)
class _Match:
    entry: _Entry
    score: float
    note: str
    text: str


@dataclass
class _Tables:
    """The lookup structures, rebuilt or extended as subjects come and go."""

    # Keyed by (word, number of words in the name): a query only ever matches names of its
    # own length, and "university" alone would list most of the index.
    postings: dict[tuple[str, int], list[tuple[tuple[str, ...], _Entry]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    words: set[str] = field(default_factory=set)
    vocabulary_by_length: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    acronyms: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    chinese: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    compact: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    # Loose romanisation keys of Cyrillic names (any query), and of Latin names (Cyrillic
    # queries only: "Сколтех" is Skoltech; among Latin names, Nanjing and Nanning would meet).
    transliterated: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    latin_loose: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    brands: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    identifiers: dict[str, list[_Entry]] = field(default_factory=lambda: defaultdict(list))
    longest_chinese: int = 0
    # ``_spellings`` of query words seen: most words of organisation names recur from query to
    # query, and a fuzzy search of the vocabulary is most of what a screen costs. A new word
    # empties it, as it may be a slip of any of them.
    spellings: dict[str, frozenset[str]] = field(default_factory=dict)


def identifier_key(value: str) -> str:
    """An identifier as compared: ``https://ror.org/01yqg2h08/``, ``01YQG2H08`` → ``01yqg2h08``;
    Wikidata URLs and Q-ids alike."""
    return value.strip().rstrip("/").rsplit("/", 1)[-1].casefold()


def subject_key(subject: Mapping[str, Any]) -> str:
    """Advisories about one organisation share a key: its ROR id, else its name and country."""
    identifiers = subject.get("identifiers") or {}
    ror = identifiers.get("ror") if isinstance(identifiers, Mapping) else None
    if isinstance(ror, str) and ror.strip():
        return "ror:" + identifier_key(ror)
    tokens = name_tokens(str(subject.get("name", "")), keep_legal_forms=True)
    return f"name:{subject.get('country', '')}:{' '.join(tokens)}"


def _is_brand(tokens: tuple[str, ...]) -> bool:
    """A company's one distinctive word (Huawei, Hikvision, Nuctech), not a common one."""
    return (
        len(tokens) == 1
        and len(tokens[0]) >= 5
        and tokens[0].isalpha()
        and tokens[0] not in PLACES
        and tokens[0] not in UNIT_WORDS
        and tokens[0] not in LEGAL_FORMS
    )


def _names(subject: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(value, type) of each name of a subject, the main name first."""
    name = subject.get("name")
    if isinstance(name, str) and name.strip():
        yield name, "name"
    for item in subject.get("names") or ():
        if isinstance(item, Mapping) and isinstance(item.get("value"), str):
            yield item["value"], str(item.get("type") or "alias")


_RULE_NAMES = {
    "name": "name",
    "official": "official name",
    "alias": "alias",
    "former": "former name",
    "translation": "translation",
}


class ScreeningIndex:
    """In-memory, thread-safe index of advisory subjects; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tables = _Tables()
        self._subjects: dict[str, _Subject] = {}
        self._pk_subject: dict[int, str] = {}
        self._stale_entries = 0
        self._live_entries = 0
        self._seen_seq = 0

    # -- building -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Subjects indexed."""
        return len(self._subjects)

    def load(self, entries: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
        """Index many advisories' subjects at once, as ``(advisories.pk, subject)`` pairs."""
        with self._lock:
            for pk, subject in entries:
                self._put(pk, subject, rebuild=False)
            self._rebuild()

    def put(self, pk: int, subject: Mapping[str, Any]) -> None:
        """Index (or re-index, after a revision) the subject of advisory ``pk``."""
        with self._lock:
            self._put(pk, subject, rebuild=True)

    def build(self, factory: sessionmaker[Session]) -> None:
        """Index what the database holds (at start-up); errors are logged, not raised.

        A failure here only delays the work to the first screen, which refreshes anyway.
        """
        try:
            with factory() as session:
                self.refresh(session)
        except Exception:
            logger.exception("Building the screening index failed; the first screen will retry.")

    def refresh(self, session: Session) -> None:
        """Catch up with the revisions written since the last refresh, by any process.

        Writers commit in change-sequence order (``service.sequence``), so everything up to
        the highest sequence number seen is already indexed.
        """
        latest = session.scalar(select(func.max(AdvisoryRevision.seq))) or 0
        if latest <= self._seen_seq:
            return
        with self._lock:
            if latest <= self._seen_seq:
                return
            # Advisories changed since: found by revision number (the primary key), so that
            # catching up after one write reads one row, not the whole table.
            changed = select(AdvisoryRevision.advisory_pk).where(
                AdvisoryRevision.seq > self._seen_seq
            )
            query = select(Advisory.pk, AdvisoryRevision.document).join(
                AdvisoryRevision, AdvisoryRevision.seq == Advisory.current_seq
            )
            if self._seen_seq:
                query = query.where(Advisory.pk.in_(changed))
            rows = session.execute(query).all()
            first_load = self._seen_seq == 0
            for pk, document in rows:
                self._put(pk, json.loads(document)["subject"], rebuild=not first_load)
            if first_load:
                self._rebuild()
            self._seen_seq = latest

    def _put(self, pk: int, subject: Mapping[str, Any], *, rebuild: bool) -> None:
        key = subject_key(subject)
        old_key = self._pk_subject.get(pk)
        if old_key is not None:
            old = self._subjects[old_key]
            remaining = {p: s for p, s in old.by_pk.items() if p != pk}
            if rebuild:
                self._retire(old)
            del self._subjects[old_key]
            if remaining:
                replacement = _Subject(old_key, remaining)
                self._subjects[old_key] = replacement
                if rebuild:
                    self._add_entries(replacement)
        current = self._subjects.get(key)
        by_pk = dict(current.by_pk) if current is not None else {}
        by_pk[pk] = subject
        if current is not None and rebuild:
            self._retire(current)
        entry = _Subject(key, by_pk)
        self._subjects[key] = entry
        self._pk_subject[pk] = key
        if rebuild:
            self._add_entries(entry)
            if self._stale_entries > max(self._live_entries, 1000):
                self._rebuild()

    def _retire(self, subject: _Subject) -> None:
        subject.alive = False
        self._stale_entries += subject.entry_count
        self._live_entries -= subject.entry_count

    def _rebuild(self) -> None:
        self._tables = _Tables()
        self._stale_entries = 0
        self._live_entries = 0
        for subject in self._subjects.values():
            self._add_entries(subject)

    def _add_entries(self, subject: _Subject) -> None:
        tables = self._tables
        count = 0
        seen: set[tuple[int, str, str, str]] = set()

        def add(table: dict[str, list[_Entry]], key: str, entry: _Entry) -> None:
            nonlocal count
            marker = (id(table), key, entry.rule, entry.label)
            if key and marker not in seen:
                seen.add(marker)
                table[key].append(entry)
                count += 1

        for described in subject.by_pk.values():
            identifiers = described.get("identifiers") or {}
            if isinstance(identifiers, Mapping):
                for scheme, value in identifiers.items():
                    key = identifier_key(str(value))
                    if key:
                        entry = _Entry(subject, str(value), f"identifier ({scheme})", 1.0)
                        add(tables.identifiers, key, entry)
            for value, kind in _names(described):
                value = value.strip()
                if not value:
                    continue
                if kind == "acronym":
                    acronym = "".join(c for c in fold(value) if c.isalnum())
                    if 2 <= len(acronym) <= _MAX_ACRONYM:
                        add(tables.acronyms, acronym, _Entry(subject, value, "acronym", 0.9))
                    continue
                rule = _RULE_NAMES.get(kind, "alias")
                company = str(described.get("kind")) == "company"
                if has_cjk(value):
                    self._add_chinese(subject, value, rule, company, add)
                    continue
                tokens = name_tokens(value)
                if tokens:
                    # A former name still finds the subject, behind one that bears it now.
                    named = _Entry(subject, value, rule, 0.97 if kind == "former" else 1.0)
                    self._add_tokens(tokens, named)
                    count += 1
                    if company:
                        count += self._add_without_leading_place(tokens, subject, value)
                    if company and _is_brand(tokens):
                        add(tables.brands, tokens[0], _Entry(subject, value, rule, 1.0))
                add(tables.compact, compact(value), _Entry(subject, value, rule, 0.95))
                add(
                    tables.transliterated if has_cyrillic(value) else tables.latin_loose,
                    loose_transliteration(value),
                    _Entry(subject, value, "transliteration of", 0.9),
                )
                derived = initials(value)
                if 3 <= len(derived) <= _MAX_ACRONYM:
                    entry = _Entry(subject, value, "acronym derived from", 0.8)
                    add(tables.acronyms, derived, entry)
        subject.entry_count = count
        self._live_entries += count

    def _add_tokens(self, tokens: tuple[str, ...], entry: _Entry) -> None:
        tables = self._tables
        for token in set(tokens):
            tables.postings[token, len(tokens)].append((tokens, entry))
            if token not in tables.words:
                tables.words.add(token)
                tables.vocabulary_by_length[len(token)].add(token)
                tables.spellings.clear()

    def _add_without_leading_place(
        self, tokens: tuple[str, ...], subject: _Subject, value: str
    ) -> int:
        # Companies are often named without their home city: "Hikvision Digital Technology".
        start = 0
        while start < len(tokens) - 1 and tokens[start] in CITIES:
            start += 1
        if start and len(tokens) - start >= 1:
            rest = tokens[start:]
            if len(rest) > 1 or len(rest[0]) >= 5:
                self._add_tokens(rest, _Entry(subject, value, "name without its city", 0.95))
                return 1
        return 0

    def _add_chinese(
        self, subject: _Subject, value: str, rule: str, company: bool, add: Any
    ) -> None:
        tables = self._tables
        key = chinese_key(value)
        if not key:
            return
        label = "chinese name" if rule in ("name", "official name") else f"chinese {rule}"
        add(tables.chinese, key, _Entry(subject, value, label, 1.0))
        for pinyin in pinyin_forms(key):
            add(tables.compact, pinyin, _Entry(subject, value, "pinyin of", 0.93))
        for form in reduced_forms(key, company=company):
            add(tables.chinese, form, _Entry(subject, value, f"{label} (shortened)", 0.95))
            if len(form) >= 3:
                for pinyin in pinyin_forms(form):
                    add(tables.compact, pinyin, _Entry(subject, value, "pinyin of", 0.9))
        for short in short_forms().get(key, ()):
            add(tables.chinese, short, _Entry(subject, value, "chinese short form of", 0.92))
            if len(short) >= 3:
                for pinyin in pinyin_forms(short):
                    add(tables.compact, pinyin, _Entry(subject, value, "pinyin of", 0.9))
        tables.longest_chinese = max(tables.longest_chinese, len(key))

    # -- searching ------------------------------------------------------------------------

    def search(self, text: str, *, country: str | None = None, limit: int = 20) -> list[Hit]:
        """Subjects that ``text`` names, best first, at most ``limit``."""
        with self._lock:
            best: dict[str, _Match] = {}
            for part in query_parts(text):
                for match in self._match_part(part):
                    subject = match.entry.subject
                    if not subject.alive or (country and subject.country != country):
                        continue
                    current = best.get(subject.key)
                    if current is None or match.score > current.score:
                        best[subject.key] = match
            ranked = sorted(
                best.values(),
                key=lambda m: (-m.score, str(m.entry.subject.subject.get("name", ""))),
            )
            return [self._hit(m) for m in ranked[:limit]]

    @staticmethod
    def _hit(match: _Match) -> Hit:
        entry = match.entry
        matched_on = f"{entry.rule}: {entry.label}"
        if match.note:
            matched_on += f" ({match.note})"
        return Hit(
            subject=entry.subject.subject,
            advisory_pks=tuple(sorted(entry.subject.by_pk)),
            score=round(min(match.score, 1.0), 4),
            matched_on=matched_on,
            matched_text=match.text,
        )

    def _match_part(self, part: QueryPart) -> Iterator[_Match]:
        weight = 0.97 if part.within_line else 1.0
        note = "in an affiliation line" if part.within_line else ""
        if " " not in part.text:
            for entry in self._tables.identifiers.get(identifier_key(part.text), ()):
                yield _Match(entry, weight, note, part.text)
        if has_cjk(part.text):
            yield from self._match_chinese(part, weight, note)
            return
        yield from self._match_tokens(part, weight, note)
        yield from self._match_acronym(part, weight, note)
        key = compact(part.text)
        if len(key) >= _MIN_COMPACT:
            for entry in self._tables.compact.get(key, ()):
                yield _Match(entry, entry.weight * weight, note, part.text)
        loose = loose_transliteration(part.text)
        if len(loose) >= _MIN_COMPACT:
            tables = [self._tables.transliterated]
            if has_cyrillic(part.text):
                tables.append(self._tables.latin_loose)
            for table in tables:
                for entry in table.get(loose, ()):
                    yield _Match(entry, entry.weight * weight, note, part.text)

    def _match_tokens(self, part: QueryPart, weight: float, note: str) -> Iterator[_Match]:
        tokens = without_postcodes(name_tokens(part.text))
        if not tokens:
            return
        folded = fold(part.text).strip()
        yield from self._aligned(tokens, part, weight, note, folded)
        # "Harbin Institute of Technology Shenzhen", "…, Beijing, China": a trailing location
        # qualifies the institution rather than naming another one.
        end = len(tokens)
        while end > 0 and is_place(tokens[end - 1]):
            end -= 1
        core = tokens[:end]
        if core != tokens and (len(core) >= 2 or (core and len(core[0]) >= 5)):
            yield from self._aligned(core, part, weight * 0.94, _also(note, "location ignored"))
        yield from self._with_acronym_after(part, core, weight, note)
        yield from self._units(part, core, weight, note)
        yield from self._brands(part, core, weight, note)

    def _with_acronym_after(
        self, part: QueryPart, tokens: tuple[str, ...], weight: float, note: str
    ) -> Iterator[_Match]:
        """ "Univ Elect Sci & Technol China UESTC": a name followed by its own acronym."""
        words = part.text.split()
        last = words[-1] if words else ""
        if len(tokens) < 3 or not _written_as_acronym(last):
            return
        owners = {id(e.subject) for e in self._tables.acronyms.get(_acronym_key(last), ())}
        for match in self._aligned(tokens[:-1], part, weight, _also(note, "with its acronym")):
            if id(match.entry.subject) in owners:
                yield match

    def _units(
        self, part: QueryPart, tokens: tuple[str, ...], weight: float, note: str
    ) -> Iterator[_Match]:
        """A school, institute or college of a listed institution, named with it.

        "Graduate School of <name>", "The 54th Research Institute of <name>", "<name> ZiJin
        College", "<ACRONYM> Chengdu Aircraft Design & Research Institute". The unit's own
        words must end in a unit word (school, institute, college …), so "Nanjing University
        of Science and Technology" is never a unit of a Nanjing University.
        """
        unit_note = _also(note, "a unit of it")
        unit_weight = weight * 0.88
        folded = fold(part.text)
        pieces = folded.split(" of ")
        for i in range(1, min(len(pieces), 6)):
            head = name_tokens(" of ".join(pieces[:i]))
            tail = without_postcodes(name_tokens(" of ".join(pieces[i:])))
            if head and head[-1] in UNIT_WORDS and len(tail) >= 2:
                yield from self._aligned(tail, part, unit_weight, unit_note)
        if len(tokens) >= 3 and tokens[-1] in UNIT_WORDS:
            for cut in range(len(tokens) - 1, 1, -1):
                if tokens[cut - 1] in UNIT_WORDS:
                    continue
                yield from self._aligned(tokens[:cut], part, unit_weight, unit_note)
        words = part.text.split()
        if len(words) >= 3 and tokens and tokens[-1] in UNIT_WORDS:
            first = words[0]
            if _written_as_acronym(first) and len(_acronym_key(first)) >= 3:
                for entry in self._tables.acronyms.get(_acronym_key(first), ()):
                    if entry.rule == "acronym":
                        yield _Match(entry, entry.weight * unit_weight, unit_note, part.text)

    def _brands(
        self, part: QueryPart, tokens: tuple[str, ...], weight: float, note: str
    ) -> Iterator[_Match]:
        """A company's distinctive one-word name inside a longer one: "Huawei Device Co"."""
        if len(tokens) < 2:
            return
        for token in set(tokens):
            for entry in self._tables.brands.get(token, ()):
                yield _Match(entry, weight * 0.85, _also(note, "a company of that name"), part.text)

    def _aligned(
        self, tokens: tuple[str, ...], part: QueryPart, weight: float, note: str, folded: str = ""
    ) -> Iterator[_Match]:
        """Indexed names with the same tokens in the same order, long words forgiving a slip.

        Candidates come from the posting list of the rarest word the index knows; the other
        words are then compared in place, so a misspelt word costs one comparison per
        candidate. Only when no word is known is the vocabulary searched for near spellings.
        """
        if not tokens:
            return
        tables = self._tables
        length = len(tokens)
        options: list[AbstractSet[str] | None] = []
        for token in tokens:
            alternatives = AMBIGUOUS_ABBREVIATIONS.get(token)
            if alternatives:
                present = {word for word in alternatives if word in tables.words}
                if not present:
                    return
                options.append(present)
            else:
                options.append({token} if token in tables.words else None)

        def candidates(i: int) -> int:
            return sum(len(tables.postings.get((t, length), ())) for t in options[i] or ())

        known = [i for i, choices in enumerate(options) if choices]
        unknown = [i for i, choices in enumerate(options) if choices is None]
        if unknown and (not known or min(map(candidates, known)) > _COMPARE_IN_PLACE):
            # Too many candidates to compare a misspelt word in place: look the word up in
            # the vocabulary instead (a word with no near spelling ends the search).
            for i in unknown:
                near = self._spellings(tokens[i])
                if not near:
                    return
                options[i] = near
            known = list(range(length))
        rarest = min(known, key=candidates)
        postings = tables.postings
        query_text = " ".join(tokens)
        for choice in options[rarest] or ():
            for indexed, entry in postings.get((choice, length), ()):
                if not entry.subject.alive:
                    continue
                corrected = False
                for word, token, choices in zip(indexed, tokens, options, strict=True):
                    if choices is not None and word in choices:
                        if word != token and token not in AMBIGUOUS_ABBREVIATIONS:
                            corrected = True
                        continue
                    if choices is None and _near(token, word):
                        corrected = True
                        continue
                    break
                else:
                    if corrected:
                        similarity = fuzz.ratio(query_text, " ".join(indexed)) / 100
                        why = _also(note, "spelling corrected")
                    else:
                        similarity = 1.0 if folded == fold(entry.label) else 0.98
                        why = note
                    yield _Match(entry, entry.weight * weight * similarity, why, part.text)

    def _spellings(self, token: str) -> frozenset[str]:
        """Indexed words within a slip of ``token`` (see ``_near``), from the vocabulary."""
        if len(token) < 5 or not token.isalpha():
            return frozenset()
        tables = self._tables
        known = tables.spellings.get(token)
        if known is not None:
            return known
        size = len(tables.words)
        allowed = _allowed_slips(token)
        found: set[str] = set()
        for length in range(len(token) - allowed, len(token) + allowed + 1):
            words = tables.vocabulary_by_length.get(length)
            if not words:
                continue
            for word, _, _ in process.extract(
                token, words, scorer=OSA.distance, score_cutoff=allowed, limit=5
            ):
                if _near(token, word):
                    found.add(word)
        spellings = frozenset(found)
        # Kept only if no word came meanwhile (a refresh on another thread), and bounded.
        if len(tables.words) == size:
            if len(tables.spellings) >= _SPELLINGS_KEPT:
                tables.spellings.clear()
            tables.spellings[token] = spellings
        return spellings

    def _match_acronym(self, part: QueryPart, weight: float, note: str) -> Iterator[_Match]:
        """A listed acronym, or failing one an acronym of a single subject's initials."""
        words = part.text.replace(".", "").split()
        if len(words) != 1:
            return
        key = _acronym_key(words[0])
        if not 2 <= len(key) <= _MAX_ACRONYM or key in PLACES:
            return
        if canonical_word(key) in LEGAL_FORMS or key in STOPWORDS:
            return  # "Ltd." after a comma is no acronym
        entries = [e for e in self._tables.acronyms.get(key, ()) if e.subject.alive]
        listed = [e for e in entries if e.rule == "acronym"]
        if listed:
            for entry in listed:
                yield _Match(entry, entry.weight * weight, note, part.text)
            return
        # Initials identify only when one subject has them, and, in lower case, when they are
        # no word of any name (else "bit" or "hit" would be read as acronyms).
        if len({id(e.subject) for e in entries}) != 1:
            return
        if _written_as_acronym(part.text) or key not in self._tables.words:
            yield _Match(entries[0], entries[0].weight * weight, note, part.text)

    def _match_chinese(self, part: QueryPart, weight: float, note: str) -> Iterator[_Match]:
        table = self._tables.chinese
        pieces = [part.text, *part.text.split()] if " " in part.text.strip() else [part.text]
        for piece in pieces:
            key = chinese_key(piece)
            if not key:
                continue
            exact = table.get(key)
            if exact:
                for entry in exact:
                    yield _Match(entry, entry.weight * weight, note, piece)
                continue
            yield from self._chinese_in_line(key, piece, weight)

    def _chinese_in_line(self, key: str, piece: str, weight: float) -> Iterator[_Match]:
        """A listed Chinese name at the start of a longer line, or after a place prefix.

        Only there: 电子科技大学 inside 西安电子科技大学 is another university. And never when
        it continues as another institution does (中国科学院 + 大学).
        """
        table = self._tables.chinese
        longest = self._tables.longest_chinese
        for start in [0, *place_prefix_ends(key)]:
            for end in range(min(len(key), start + longest), start + _MIN_CHINESE_IN_LINE - 1, -1):
                if end == len(key) and start == 0:
                    continue
                name = key[start:end]
                entries = [
                    e
                    for e in table.get(name, ())
                    if "short form" not in e.rule or len(name) >= _MIN_SHORT_FORM_IN_LINE
                ]
                if not entries:
                    continue
                if key[end:].startswith(CHINESE_DISTINCT_HEADS):
                    break
                for entry in entries:
                    yield _Match(entry, entry.weight * weight * 0.95, "in a longer name", piece)
                break


def _also(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def _acronym_key(word: str) -> str:
    return "".join(c for c in fold(word) if c.isalnum())


def _written_as_acronym(text: str) -> bool:
    """Capitals (``NUDT``, ``UESTC``) or initials with dots (``n.u.d.t.``)."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 2:
        return False
    return all(c.isupper() for c in letters) or "." in text


def _allowed_slips(token: str) -> int:
    return 1 if len(token) < 12 else 2


def _near(token: str, word: str) -> bool:
    """Whether ``token`` is a slip of the indexed ``word``.

    Long words forgive one edit (two from 12 letters); shorter ones only two neighbouring
    letters swapped, or from six letters one left out: Shanxi and Shaanxi, Hunan and Henan
    are different provinces. A slip never
    changes a word's first letter, and words with digits must be exact.
    """
    if len(token) < 5 or token[0] != word[0] or not token.isalpha():
        return False
    if len(token) >= 8:
        return OSA.distance(token, word, score_cutoff=_allowed_slips(token)) <= _allowed_slips(
            token
        )
    # A place's own name is never a slip of another's (Shanxi, Shaanxi).
    return _swapped(token, word) or (
        len(token) >= 6 and token not in PLACES and _dropped_letter(token, word)
    )


def _dropped_letter(token: str, word: str) -> bool:
    """Whether ``token`` is ``word`` with one letter left out (Beijng)."""
    return len(word) == len(token) + 1 and any(
        word[:i] + word[i + 1 :] == token for i in range(len(word))
    )


def _swapped(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with two neighbouring letters swapped (Sichaun, Huwaei)."""
    if len(a) != len(b):
        return False
    differ = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return len(differ) == 2 and differ[1] == differ[0] + 1 and a[differ[0]] == b[differ[1]]
