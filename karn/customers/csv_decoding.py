"""Decoding and dialect of a customer CSV export.

Encoding sniffing (UTF-8 with or without BOM, UTF-16 with BOM, else
Windows-1252), the cp1252 fallback for stray bytes in a UTF-8 file, the stream
that replays the sample already read, and delimiter sniffing. Used by
karn.customers.csvparse.
"""

import codecs
import csv
import io
import re
from typing import IO, Any

from karn.customers.csv_errors import CsvFormatError

# --- Encoding --------------------------------------------------------------


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Read a stray non-UTF-8 byte in a UTF-8 file as Windows-1252.

    The sample may be pure ASCII while a "Müller" written by Excel in cp1252
    turns up 50,000 rows later; that row must load rather than fail the file.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252"), exc.end


_FALLBACK = "karn.csvparse.cp1252"
codecs.register_error(_FALLBACK, _cp1252_fallback)

_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _read_sample(stream: IO[bytes], size: int) -> tuple[bytes, bool]:
    """Read up to size bytes (short reads included) and whether the file ended."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts), False


def _sniff_encoding(sample: bytes, complete: bool) -> str:
    """Choose the codec for a file from its first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        body, encoding = sample[3:], "utf-8-sig"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: UTF-16 with BOM, tab-separated.
        body, encoding = sample[2:], "utf-16"
    else:
        body, encoding = sample, ""
    if not body.strip():
        raise CsvFormatError("empty_file")
    if sample.startswith(_SPREADSHEET_MAGIC):
        raise CsvFormatError("spreadsheet_file")
    if sample.startswith(_BINARY_MAGIC):
        raise CsvFormatError("binary_file")
    if encoding == "utf-16":
        return encoding
    if b"\x00" in body:
        raise CsvFormatError("binary_file")
    try:
        # final=False: a multi-byte character cut at the sample edge is no error.
        codecs.getincrementaldecoder("utf-8")().decode(body, final=complete)
        return encoding or "utf-8"
    except UnicodeDecodeError:
        if encoding:
            # A BOM says UTF-8; stray cp1252 bytes are read by the fallback.
            return encoding
    try:
        body.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            "undecodable", line=body[: exc.start].count(b"\n") + 1
        ) from None
    return "cp1252"


def _errors_for(encoding: str) -> str:
    """Decoding errors mode: UTF-8 files tolerate stray cp1252 bytes."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return _FALLBACK
    return "strict"


class _Prefixed(io.RawIOBase):
    """The sample already read, then the rest of the stream, as one raw stream.

    Closing it leaves the caller's stream open.
    """

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self._prefix:
            chunk: Any = self._prefix[:size]
            self._prefix = self._prefix[size:]
        else:
            chunk = self._stream.read(size) or b""
        buffer[: len(chunk)] = chunk
        return len(chunk)


# --- Delimiter -------------------------------------------------------------

_DELIMITERS = (",", ";", "\t")
# Excel reads and writes a first line "sep=;" that names the delimiter.
_SEP_LINE = re.compile(r"sep=(.)(?:\r\n|\n|\r|$)", re.IGNORECASE)


def _complete_text(text: str, complete: bool) -> str:
    """Cut a sample at its last line end so no half row is looked at."""
    if complete:
        return text
    end = max(text.rfind("\n"), text.rfind("\r"))
    return text[: end + 1] if end >= 0 else text


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the first rows most consistently.

    Each candidate parses up to 20 records with the csv module, so quoted
    delimiters and newlines are respected; the winner gives the header more than
    one column and the most rows the same width as the header. This is what
    csv.Sniffer attempts, without its habit of picking a letter or a quote.
    """
    best, best_score = ",", (False, -1.0, 0)
    for delimiter in _DELIMITERS:
        rows: list[list[str]] = []
        try:
            for record in csv.reader(io.StringIO(text), delimiter=delimiter):
                if any(v.strip() for v in record):
                    rows.append(record)
                if len(rows) >= 20:
                    break
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        body = rows[1:] or rows
        same = sum(1 for r in body if _width(r) == _width(rows[0])) / len(body)
        score = (width > 1, same, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _width(row: list[str]) -> int:
    """Width without trailing empty cells, which Excel adds or leaves out."""
    n = len(row)
    while n and not row[n - 1].strip():
        n -= 1
    return n
