"""Finding one person's identifiers in free-form data and taking them out.

Used where Karn keeps data it did not structure itself: audit-log details and
the gzip-compressed CSV files of imports.
"""

import csv
import gzip
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ERASED = "[erased]"
# Shorter values (an initial, a two-letter code) would match everywhere.
MIN_NEEDLE = 3
MIN_PHONE_DIGITS = 6


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@dataclass
class Needles:
    """The identifiers of one or more people: emails, names, phones, numbers."""

    texts: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # digits only

    def add(self, value: Any, phone: bool = False) -> None:
        if not isinstance(value, str):
            return
        value = value.strip()
        if len(value) >= MIN_NEEDLE:
            self.texts.add(value.lower())
        if phone and len(_digits(value)) >= MIN_PHONE_DIGITS:
            self.phones.add(_digits(value))

    def __bool__(self) -> bool:
        return bool(self.texts or self.phones)

    def search_terms(self) -> set[str]:
        """Lower-case substrings to look for in stored text, also as JSON escapes."""
        terms = set(self.texts)
        for text in self.texts:
            terms.add(json.dumps(text)[1:-1])  # "é" is stored as "\u00e9"
        return terms | self.phones

    def _pattern(self) -> re.Pattern | None:
        if not self.texts:
            return None
        alternatives = sorted(self.texts, key=len, reverse=True)
        return re.compile("|".join(re.escape(t) for t in alternatives), re.IGNORECASE)

    def found_in(self, text: str) -> bool:
        """True when the text holds any identifier (phones also without spacing)."""
        lowered = text.lower()
        if any(t in lowered for t in self.texts):
            return True
        if self.phones:
            digits = _digits(text)
            return any(p in digits for p in self.phones)
        return False

    def replace(self, text: str) -> str:
        """The text with every identifier replaced by [erased]."""
        pattern = self._pattern()
        if pattern is not None:
            text = pattern.sub(ERASED, text)
        if self.phones and self.found_in(text):
            # A phone written differently ("06 12 34 56 78"): drop the whole value.
            return ERASED
        return text


def scrub_json(value: Any, needles: Needles) -> Any:
    """A copy of a JSON value with the identifiers replaced, keys included."""
    if isinstance(value, str):
        return needles.replace(value)
    if isinstance(value, list):
        return [scrub_json(v, needles) for v in value]
    if isinstance(value, dict):
        return {
            needles.replace(k) if isinstance(k, str) else k: scrub_json(v, needles)
            for k, v in value.items()
        }
    return value


def _decode(data: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1"), "latin-1"


def _dialect(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_rows(blob: bytes) -> tuple[list[list[str]], str, str]:
    """The rows of a gzip-compressed CSV, with its encoding and delimiter."""
    text, encoding = _decode(gzip.decompress(blob))
    delimiter = _dialect(text)
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return rows, encoding, delimiter


def rows_about(blob: bytes, needles: Needles) -> list[dict[str, str]]:
    """The rows of a compressed CSV that mention the person, keyed by header."""
    rows, _, _ = read_rows(blob)
    if not rows:
        return []
    header = rows[0]
    found = []
    for row in rows[1:]:
        if any(needles.found_in(cell) for cell in row):
            keys = header + [f"column {i + 1}" for i in range(len(header), len(row))]
            found.append(dict(zip(keys, row, strict=False)))
    return found


@dataclass
class BlobScrub:
    """What scrubbing one compressed CSV did."""

    blob: bytes | None
    rows_removed: int = 0
    dropped: bool = False


def scrub_csv(blob: bytes, needles: Needles) -> BlobScrub:
    """Remove the rows that mention the person from a gzip-compressed CSV.

    If the person still shows up afterwards (say in the header line, or in a
    file the CSV reader cannot make sense of), the whole file is dropped.
    """
    data = gzip.decompress(blob)
    text, encoding = _decode(data)
    if not needles.found_in(text):
        return BlobScrub(blob)
    rows, encoding, delimiter = read_rows(blob)
    kept = [rows[0]] if rows else []
    removed = 0
    for row in rows[1:]:
        if any(needles.found_in(cell) for cell in row):
            removed += 1
        else:
            kept.append(row)
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(kept)
    new_text = out.getvalue()
    if needles.found_in(new_text):
        return BlobScrub(None, rows_removed=removed, dropped=True)
    try:
        encoded = new_text.encode(encoding)
    except UnicodeEncodeError:
        encoded = new_text.encode("utf-8-sig")
    return BlobScrub(gzip.compress(encoded, compresslevel=6), rows_removed=removed)


def needles_for(values: Iterable[tuple[Any, bool]]) -> Needles:
    """Needles from (value, is_phone) pairs."""
    needles = Needles()
    for value, phone in values:
        needles.add(value, phone=phone)
    return needles
