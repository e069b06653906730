"""Words of many answers at once: a vectorised tokeniser that hashes each word, and phrase matching on the hashes.

Words are maximal runs of ASCII letters, digits, ``_`` and apostrophes, or of non-ASCII UTF-8 bytes (letters in other
scripts), lower-cased, with the curly apostrophe straightened. A phrase is a sequence of such words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_WORD_BYTES = np.zeros(256, dtype=bool)
_WORD_BYTES[list(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'")] = True
_WORD_BYTES[128:] = True  # any non-ASCII UTF-8 byte belongs to a word: letters in other scripts
_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
_MIX = np.uint64(0x9E3779B97F4A7C15)
_HASHED_PREFIX = 16  # bytes of a word that go into its hash (plus its length): longer words rarely collide
_BYTE_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


@dataclass(frozen=True)
class Tokens:
    """Hashed words of one chunk: ``row`` (index within the chunk) and ``hash`` per word, in text order."""

    row: np.ndarray
    hash: np.ndarray
    n_rows: int


def tokenise(texts: list[str]) -> Tokens:
    """Words as maximal runs of letters/digits/apostrophes (lower-cased), each hashed FNV-style, vectorised."""
    big = ("\x00".join(texts) + "\x00").lower().replace("\u2019", "'")
    buf = np.frombuffer(big.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    inside = _WORD_BYTES[buf]
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
            # Always all rounds: a word's hash must not depend on the longest word in its chunk.
            remaining = np.minimum(np.maximum(lengths - offset, 0), 8)
            word = windows[starts + offset] & _BYTE_MASKS[remaining]
            hashes = (hashes ^ word) * _FNV_PRIME
            hashes ^= hashes >> np.uint64(29)
        hashes = (hashes ^ lengths.astype(np.uint64)) * _FNV_PRIME
    # Words per answer from where each NUL separator falls among the word starts (n searches, not one per word).
    separators = np.flatnonzero(buf == 0)
    per_row = np.diff(np.searchsorted(starts, separators), prepend=0)
    rows = np.repeat(np.arange(len(texts)), per_row)
    return Tokens(row=rows, hash=hashes, n_rows=len(texts))


class PhraseSet:
    """Phrases as hashed word n-grams, grouped by length; an n-gram is only hashed where its first word is the
    first word of some phrase, so the common case costs one membership test per word."""

    def __init__(self, phrases: Sequence[str]):
        self.phrases = list(phrases)
        # length -> (first words, n-gram keys sorted, phrase index of each key)
        self.by_length: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
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
            self.by_length[n] = (np.unique(table[:, 0]), keys[order], phrase_of)

    @staticmethod
    def _combine(columns: Sequence[np.ndarray]) -> np.ndarray:
        combined = columns[0].copy()
        with np.errstate(over="ignore"):
            for column in columns[1:]:
                combined = (combined * _MIX) ^ column
        return combined

    def _found(self, tokens: Tokens):
        size = tokens.hash.size
        for n, (firsts, keys, phrase_of) in self.by_length.items():
            if size < n:
                continue
            at = np.flatnonzero(np.isin(tokens.hash[: size - n + 1], firsts, kind="sort"))
            if n > 1:
                at = at[tokens.row[at] == tokens.row[at + n - 1]]
            grams = self._combine([tokens.hash[at + k] for k in range(n)])
            hit = np.isin(grams, keys, kind="sort")
            yield at[hit], phrase_of, keys, grams[hit]

    def count(self, tokens: Tokens) -> np.ndarray:
        """Occurrences of any phrase per row."""
        counts = np.zeros(tokens.n_rows, dtype=np.int64)
        for at, _, _, _ in self._found(tokens):
            counts += np.bincount(tokens.row[at], minlength=tokens.n_rows)
        return counts

    def present(self, tokens: Tokens) -> np.ndarray:
        """rows x phrases: whether the row holds the phrase."""
        out = np.zeros((tokens.n_rows, len(self.phrases)), dtype=bool)
        for at, phrase_of, keys, grams in self._found(tokens):
            out[tokens.row[at], phrase_of[np.searchsorted(keys, grams)]] = True
        return out
