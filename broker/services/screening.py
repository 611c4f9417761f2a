"""Screening of a signal's free text before it is stored (DESIGN §11: descriptions are checked for
INSZ, names of clients and other identifiers; refused with the offending span marked, never
echoed in logs).

Pure: :func:`find_identifiers` takes the text and a way to ask whether a run of words is the
name of one of the network's clients (``broker.services.name_index``), and returns the spans
(offsets and kind, never the text) of everything that identifies a person:

- ``insz``: 11 digits, separators ``.``, ``-`` and spaces allowed between them, with a valid
  mod-97 check (either century, DESIGN §3);
- ``iban``: an IBAN (ISO 13616) of any country, spaces allowed, with a valid mod-97 check;
- ``email``: ``local@domain.tld``;
- ``telefoon``: a Belgian or international phone number (``+32``/``0032``/``0`` and 8 or 9 more
  digits, or ``+`` and 8 to 14 digits), separators allowed;
- ``naam``: two to four words in a row that are the full name of a client of the network.

The checksums keep ordinary numbers (an amount, a year, a postcode) from being refused; a run
of 11 digits that fails its checks is let through, as is a phone number that could not be one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consent.insz import is_valid_insz

KINDS = ("insz", "iban", "email", "telefoon", "naam")

_INSZ = re.compile(r"(?<![0-9])[0-9](?:[ .\-]?[0-9]){10}(?![0-9])")
_IBAN = re.compile(r"\b[A-Za-z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){11,30}\b")
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(
    r"(?<![0-9+])(?:\+|00)[1-9](?:[ ./\-]?[0-9]){7,13}(?![0-9])"  # international
    r"|(?<![0-9])0[1-9](?:[ ./\-]?[0-9]){7,8}(?![0-9])"  # Belgian, trunk prefix 0
)
_WORD = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*")
MAX_NAME_WORDS = 4
MIN_NAME_WORDS = 2


@dataclass(frozen=True)
class Span:
    """Where an identifier was found: ``start``/``end`` are offsets (Unicode code points) in the
    field's text, ``kind`` one of :data:`KINDS`. Never the text itself."""

    field: str
    start: int
    end: int
    kind: str


def _digits(text: str) -> str:
    return re.sub(r"[^0-9]", "", text)


def is_valid_iban(text: str) -> bool:
    """ISO 13616 / ISO 7064 mod 97-10: move the first four characters to the end, letters to
    numbers (A=10 .. Z=35); the remainder mod 97 is 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    if not moved.isalnum() or not moved.isascii():
        return False
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _iban_length(candidate: str) -> int:
    """The length of the longest valid IBAN that ``candidate`` starts with, else 0: the pattern
    may run on into the next word ("... 7034 en")."""
    for end in range(len(candidate), 14, -1):
        if candidate[end - 1] != " " and is_valid_iban(candidate[:end]):
            return end
    return 0


def normalise_words(text: str) -> list[str]:
    """The words of ``text`` as a name index keys them: accents dropped (NFKD), case folded,
    apostrophes and hyphens inside a word kept as one word."""
    return [_fold(m.group()) for m in _WORD.finditer(text)]


def _fold(word: str) -> str:
    plain = "".join(c for c in unicodedata.normalize("NFKD", word)
                    if not unicodedata.combining(c))
    return plain.casefold().replace("’", "'")


def _name_spans(field: str, text: str,
                is_client_name: Callable[[Sequence[str]], Sequence[bool]]) -> list[Span]:
    words = list(_WORD.finditer(text))
    folded = [_fold(w.group()) for w in words]
    windows: list[tuple[int, int]] = [
        (i, i + n) for n in range(MIN_NAME_WORDS, MAX_NAME_WORDS + 1)
        for i in range(len(words) - n + 1)
    ]
    if not windows:
        return []
    hits = is_client_name([" ".join(folded[a:b]) for a, b in windows])
    return [Span(field, words[a].start(), words[b - 1].end(), "naam")
            for (a, b), hit in zip(windows, hits, strict=True) if hit]


def find_identifiers(
    fields: dict[str, str],
    is_client_name: Callable[[Sequence[str]], Sequence[bool]],
) -> list[Span]:
    """Every identifier in the free-text ``fields`` (name -> text), sorted by field and offset.
    ``is_client_name`` answers, for each candidate (normalised words joined by one space),
    whether it is a client's name in the network."""
    spans: list[Span] = []
    for field, text in fields.items():
        spans += [Span(field, m.start(), m.end(), "insz") for m in _INSZ.finditer(text)
                  if is_valid_insz(_digits(m.group()))]
        spans += [Span(field, m.start(), m.start() + n, "iban") for m in _IBAN.finditer(text)
                  if (n := _iban_length(m.group()))]
        spans += [Span(field, m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
        taken = [(s.start, s.end) for s in spans if s.field == field]
        spans += [Span(field, m.start(), m.end(), "telefoon") for m in _PHONE.finditer(text)
                  if not any(a < m.end() and m.start() < b for a, b in taken)]
        spans += _name_spans(field, text, is_client_name)
    return sorted(set(spans), key=lambda s: (s.field, s.start, s.end, s.kind))
