"""Words of many answers at once: a vectorised tokeniser that hashes each word, and phrase matching on the hashes.

Words are maximal runs of ASCII letters, digits, ``_`` and apostrophes, or of non-ASCII UTF-8 bytes (letters in other
scripts), lower-cased, with the curly apostrophe straightened. A phrase is a sequence of such words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_HASHED_PREFIX = 16  # bytes of a word that go into its hash (plus its length): longer words rarely collide
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def _word_bytes(buf: np.ndarray) -> np.ndarray:
    """Which bytes belong to words: ASCII letters, digits, ``_`` and ``'``, and every non-ASCII UTF-8 byte (letters
    in other scripts). A few comparisons, which numpy runs several times faster than a 256-entry table lookup."""
    word = ((buf | np.uint8(0x20)) - np.uint8(ord("a"))) < 26  # a letter, either case
    word |= (buf - np.uint8(ord("0"))) < 10
    word |= buf >= 128
    word |= buf == ord("_")
    word |= buf == ord("'")
    return word


def distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct keys, ascending (as ``np.unique``): a sort and a neighbour compare, which for the few hundred
    thousand integer keys of a chunk is many times faster than numpy's hash-table ``unique``."""
    ordered = np.sort(keys)
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return np.compress(keep, ordered)


@dataclass(frozen=True)
class Tokens:
    """Hashed words of one chunk: ``row`` (index within the chunk), ``hash`` and ``offset`` (UTF-8 bytes from the
    start of its answer) per word, in text order."""

    row: np.ndarray
    hash: np.ndarray
    n_rows: int
    offset: np.ndarray | None = None

    def head(self, limit: np.ndarray) -> Tokens:
        """The words that start within the first ``limit[row]`` bytes of their answer."""
        keep = self.offset < limit[self.row]
        return Tokens(row=self.row[keep], hash=self.hash[keep], n_rows=self.n_rows, offset=self.offset[keep])


def tokenise(texts: list[str]) -> Tokens:
    """Words as maximal runs of letters/digits/apostrophes (lower-cased), each hashed FNV-style, vectorised."""
    big = ("\x00".join(texts) + "\x00").lower().replace("\u2019", "'")
    buf = np.frombuffer(big.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    inside = _word_bytes(buf)
    before = np.empty_like(inside)
    before[0] = False
    before[1:] = inside[:-1]
    # The chunk ends in NUL (not a word byte), so word edges alternate: start, end, start, end...
    edges = np.flatnonzero(inside != before)
    starts = edges[0::2]
    lengths = edges[1::2] - starts
    # Hash each word 8 bytes at a time: an unaligned uint64 view of the buffer at byte stride 1 reads the
    # 8 bytes starting at any offset; bytes past the word's end are masked off.
    padded = np.concatenate([buf, np.zeros(_HASHED_PREFIX + 8, dtype=np.uint8)])
    windows = np.ndarray(shape=(buf.size + _HASHED_PREFIX,), dtype="<u8", buffer=padded, strides=(1,))
    hashes = np.full(starts.size, _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(0, _HASHED_PREFIX, 8):
            # Always all rounds: a word's hash must not depend on the longest word in its chunk. A round past a
            # word's end mixes in zero, so only the longer words' bytes are read (most words are short).
            if offset == 0:
                word = windows[starts] & _BYTE_MASKS[np.minimum(lengths, 8)]
            else:
                word = np.zeros(starts.size, dtype=np.uint64)
                longer = np.flatnonzero(lengths > offset)
                word[longer] = windows[starts[longer] + offset] & _BYTE_MASKS[np.minimum(lengths[longer] - offset, 8)]
            hashes = (hashes ^ word) * _FNV_PRIME
            hashes ^= hashes >> np.uint64(29)
        hashes = (hashes ^ lengths.astype(np.uint64)) * _FNV_PRIME
    # Words per answer from where each NUL separator falls among the word starts (n searches, not one per word).
    separators = np.flatnonzero(buf == 0)
    per_row = np.diff(np.searchsorted(starts, separators), prepend=0)
    rows = np.repeat(np.arange(len(texts)), per_row)
    row_starts = np.concatenate([[0], separators[:-1] + 1])
    return Tokens(row=rows, hash=hashes, n_rows=len(texts), offset=starts - row_starts[rows])


class PhraseSet:
    """Phrases as hashed word n-grams, grouped by length; an n-gram is only hashed where its first word is the
    first word of some phrase, so the common case costs one membership test per word."""

    def __init__(self, phrases: Sequence[str]):
        self.phrases = list(phrases)
        # length -> (first words, n-gram keys sorted, phrase index of each key)
        self.by_length: dict[int, tuple[_Keys, _Keys, np.ndarray]] = {}
        grouped: dict[int, list[tuple[int, np.ndarray]]] = {}
        for index, phrase in enumerate(self.phrases):
            words = tokenise([phrase]).hash
            if words.size:
                grouped.setdefault(words.size, []).append((index, words))
        for n, entries in grouped.items():
            table = np.stack([words for _, words in entries])
            keys = self._combine(table.T)
            order = np.argsort(keys, kind="stable")
            phrase_of = np.array([index for index, _ in entries], dtype=np.int64)[order]
            self.by_length[n] = (_Keys(table[:, 0]), _Keys(keys[order]), phrase_of)
        # Any phrase's first word: one pass over a chunk's words finds every place a phrase may start.
        firsts = [first.sorted for first, _, _ in self.by_length.values()]
        self.first_words = _Keys(np.concatenate(firsts)) if firsts else None

    @staticmethod
    def _combine(columns: Sequence[np.ndarray]) -> np.ndarray:
        combined = columns[0].copy()
        with np.errstate(over="ignore"):
            for column in columns[1:]:
                combined = (combined * _MIX) ^ column
        return combined

    def _found(self, tokens: Tokens):
        size = tokens.hash.size
        if self.first_words is None:
            return
        starts = np.flatnonzero(self.first_words.member(tokens.hash))
        for n, (firsts, keys, phrase_of) in self.by_length.items():
            if size < n:
                continue
            at = starts[starts <= size - n]
            if len(self.by_length) > 1:
                at = at[firsts.member(tokens.hash[at])]
            if n > 1:
                at = at[tokens.row[at] == tokens.row[at + n - 1]]
            grams = self._combine([tokens.hash[at + k] for k in range(n)])
            hit = keys.member(grams)
            yield at[hit], phrase_of[np.searchsorted(keys.sorted, grams[hit])]

    def count(self, tokens: Tokens) -> np.ndarray:
        """Occurrences of any phrase per row."""
        counts = np.zeros(tokens.n_rows, dtype=np.int64)
        for at, _ in self._found(tokens):
            counts += np.bincount(tokens.row[at], minlength=tokens.n_rows)
        return counts

    def occurrences(self, tokens: Tokens) -> tuple[np.ndarray, np.ndarray]:
        """Every occurrence of a phrase: its row and the phrase's index."""
        found = list(self._found(tokens))
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate([tokens.row[at] for at, _ in found]), np.concatenate([p for _, p in found])


class _Keys:
    """A few word hashes and a fast membership test for many: a 65,536-entry table of their low 16 bits rules out
    almost every other word with one lookup; the few left are checked exactly."""

    def __init__(self, keys: np.ndarray):
        self.sorted = np.sort(keys)
        self.table = np.zeros(1 << 16, dtype=bool)
        self.table[(self.sorted & np.uint64(0xFFFF)).astype(np.intp)] = True

    def member(self, values: np.ndarray) -> np.ndarray:
        out = self.table[(values & np.uint64(0xFFFF)).astype(np.intp)]
        maybe = np.flatnonzero(out)
        if maybe.size:
            where = np.minimum(np.searchsorted(self.sorted, values[maybe]), self.sorted.size - 1)
            out[maybe] = self.sorted[where] == values[maybe]
        return out
