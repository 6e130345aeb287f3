"""The top-level keys of a JSON file, found without parsing it.

``json.load`` of a COCO-train annotation file (300 MB) takes seconds and over a GB of memory.
Following only string and bracket state over the raw bytes, a chunk at a time with numpy, finds
the top-level keys in a fraction of that, in memory bounded by the chunk size. Structure is
checked (strings terminated, brackets balanced, nothing after the top-level value); numbers,
commas and literals are not: that is left to the parser that reads the file afterwards.
"""
import json
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

CHUNK_BYTES = 1 << 20  # fits in cache: faster than larger chunks
QUOTE, BACKSLASH = ord('"'), ord('\\')
WHITESPACE = b' \t\r\n'
# +1 for an opening bracket, -1 for a closing one
BRACKET_STEP = np.zeros(256, np.int8)
BRACKET_STEP[[ord('{'), ord('[')]] = 1
BRACKET_STEP[[ord('}'), ord(']')]] = -1


class JsonStructureError(ValueError):
    """The bytes cannot be JSON: the message says what was expected, and at which byte."""


@dataclass
class TopLevel:
    """``kind``: 'object' or 'array'; ``keys``: an object's keys in file order; ``spans``: each
    key's opening and closing quote offsets; ``end``: the offset of the closing bracket."""
    kind: str
    keys: List[str] = field(default_factory=list)
    spans: List[Tuple[int, int]] = field(default_factory=list)
    end: Optional[int] = None


class _Scanner:
    """String/escape/depth state carried from one chunk to the next."""

    def __init__(self, fd: int, collect_keys: bool):
        self.fd, self.collect_keys = fd, collect_keys
        self.in_string = False
        self.escape_pending = False  # the chunk ended on a backslash that escapes the next byte
        self.depth = 0
        self.closed_at: Optional[int] = None  # offset of the top-level value's closing bracket
        self.open_key: Optional[int] = None  # a depth-1 string still open at the chunk's end
        self.key_spans: List[tuple] = []
        self.scratch = None

    def escaped_positions(self, buf: np.ndarray) -> np.ndarray:
        """Indices of bytes escaped by a backslash: those after an odd run of backslashes."""
        slashes = np.flatnonzero(buf == BACKSLASH)
        escaped = [0] if self.escape_pending else []
        if self.escape_pending and len(slashes) and slashes[0] == 0:
            slashes = slashes[1:]  # an escaped backslash starts no run
        self.escape_pending = False
        if len(slashes):
            starts = np.flatnonzero(np.diff(slashes, prepend=-2) != 1)
            lengths = np.diff(np.append(starts, len(slashes)))
            after = slashes[starts] + lengths
            after = after[lengths % 2 == 1]
            if len(after) and after[-1] == len(buf):
                self.escape_pending, after = True, after[:-1]
            escaped.extend(after.tolist())
        return np.asarray(escaped, np.int64)

    def feed(self, buf: np.ndarray, base: int, has_backslash: bool) -> None:
        # scratch arrays reused from chunk to chunk: fresh ones would page-fault on every chunk
        if self.scratch is None or len(self.scratch[0]) != len(buf):
            self.scratch = (np.empty(len(buf), np.uint8), np.empty(len(buf), bool),
                            np.empty(len(buf), bool))
        folded, is_a, is_b = self.scratch
        quotes = np.flatnonzero(np.equal(buf, QUOTE, out=is_a))
        if self.escape_pending or has_backslash:
            escaped = self.escaped_positions(buf)
            quotes = quotes[~np.isin(quotes, escaped)]
        np.bitwise_or(buf, 0x20, out=folded)  # '[' -> '{' and ']' -> '}'; nothing else folds so
        np.equal(folded, ord('{'), out=is_a)
        np.logical_or(is_a, np.equal(folded, ord('}'), out=is_b), out=is_a)
        brackets = np.flatnonzero(is_a)
        # a bracket is structural when an even number of quotes (after the carried state) precede
        outside = (np.searchsorted(quotes, brackets) + self.in_string) % 2 == 0
        brackets = brackets[outside]
        depth_after = self.depth + np.cumsum(BRACKET_STEP[buf[brackets]], dtype=np.int64)
        self.check_depths(buf, base, brackets, depth_after)
        if self.collect_keys:
            self.collect_key_spans(base, len(buf), quotes, brackets, depth_after)
        self.in_string = bool((len(quotes) + self.in_string) % 2)
        if len(depth_after):
            self.depth = int(depth_after[-1])

    def check_depths(self, buf, base, brackets, depth_after) -> None:
        if len(depth_after) and depth_after.min() < 0:
            at = base + int(brackets[np.argmax(depth_after < 0)])
            raise JsonStructureError(f'a closing bracket at byte {at} has no opening one')
        closes = brackets[depth_after == 0]
        if self.closed_at is None and len(closes):
            self.closed_at = base + int(closes[0])
        if self.closed_at is not None:
            start = max(self.closed_at + 1 - base, 0)
            extra = np.flatnonzero(~np.isin(buf[start:], np.frombuffer(WHITESPACE, np.uint8)))
            if len(extra):
                at = base + start + int(extra[0])
                raise JsonStructureError(f'extra data after the top-level value, at byte {at}')

    def collect_key_spans(self, base, size, quotes, brackets, depth_after) -> None:
        """Record (open, close) offsets of the strings directly inside the top-level object.

        Depth 1 holds between a bracket that leaves depth 1 behind it and the next bracket: few
        stretches (the top level only), so only their quotes are looked at."""
        starts = brackets[depth_after == 1] + 1
        ends = np.append(brackets, size)[np.flatnonzero(depth_after == 1) + 1]
        if self.depth == 1:  # the chunk starts at depth 1
            starts = np.insert(starts, 0, 0)
            ends = np.insert(ends, 0, brackets[0] if len(brackets) else size)
        if self.open_key is not None and len(quotes):  # it closes at this chunk's first quote
            self.key_spans.append((self.open_key, base + int(quotes[0])))
            self.open_key = None
        state = self.in_string
        for start, end in zip(starts.tolist(), ends.tolist()):
            first, last = np.searchsorted(quotes, [start, end])
            for i in range(first, last):
                if (i + state) % 2:  # a closing quote: its opener was the previous quote
                    continue
                if i + 1 < len(quotes):
                    self.key_spans.append((base + int(quotes[i]), base + int(quotes[i + 1])))
                else:
                    self.open_key = base + int(quotes[i])

    def read_keys(self) -> Tuple[List[str], List[Tuple[int, int]]]:
        """The depth-1 strings followed by ':' (object keys, not string values), and their
        spans."""
        keys, spans = [], []
        for start, end in self.key_spans:
            if _first_non_space(self.fd, end + 1) != b':':
                continue
            try:
                keys.append(json.loads(os.pread(self.fd, end + 1 - start, start)))
            except ValueError as e:
                raise JsonStructureError(
                    f'the key at byte {start} is not a JSON string ({e})') from None
            spans.append((start, end))
        return keys, spans


def _first_non_space(fd: int, offset: int) -> bytes:
    """The first byte at or after ``offset`` that is not JSON whitespace; b'' at the end."""
    while block := os.pread(fd, 4096, offset):
        rest = block.lstrip(WHITESPACE)
        if rest:
            return rest[:1]
        offset += len(block)
    return b''


def top_level(path, chunk_bytes: int = CHUNK_BYTES) -> TopLevel:
    """Scan the JSON file at ``path``; raise ``JsonStructureError`` if it cannot be JSON."""
    with open(path, 'rb') as f:
        first = _first_non_space(f.fileno(), 0)
        if not first:
            raise JsonStructureError('the file is empty or all whitespace')
        if first not in (b'{', b'['):
            start = f.read(4096).lstrip(WHITESPACE)[:12]
            raise JsonStructureError(f"expected '{{' or '[' first, got {start!r}")
        scanner, base = _Scanner(f.fileno(), collect_keys=first == b'{'), 0
        chunk = bytearray(chunk_bytes)
        while n := f.readinto(chunk):
            scanner.feed(np.frombuffer(chunk, np.uint8, count=n), base,
                         chunk.find(b'\\', 0, n) >= 0)  # memchr: escapes are rare
            base += n
        if scanner.in_string:
            raise JsonStructureError('a string is not terminated before the end of the file')
        if scanner.depth != 0:
            raise JsonStructureError(f'{scanner.depth} bracket(s) still open at the end of the '
                                     f'file (truncated?)')
        if first == b'[':
            return TopLevel('array', end=scanner.closed_at)
        return TopLevel('object', *scanner.read_keys(), end=scanner.closed_at)


def top_level_value(path, key: str, found: Optional[TopLevel] = None):
    """The parsed value of top-level ``key`` of the JSON object at ``path`` (None if absent),
    reading only its bytes: a small value (COCO's ``categories``) of a large file costs no
    parse of the rest. ``found``: ``top_level(path)`` if already scanned."""
    found = found or top_level(path)
    if key not in found.keys:
        return None
    i = found.keys.index(key)
    start = found.spans[i][1] + 1
    end = found.spans[i + 1][0] if i + 1 < len(found.keys) else found.end
    with open(path, 'rb') as f:
        raw = os.pread(f.fileno(), end - start, start).strip(WHITESPACE)
    return json.loads(raw[1:].rstrip(WHITESPACE + b','))  # after ':', before ',' or '}'
