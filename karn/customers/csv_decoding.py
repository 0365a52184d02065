"""Decoding and dialect of a customer CSV export.

Encoding sniffing (UTF-8 with or without BOM, UTF-16 with BOM, else
Windows-1252), the cp1252 fallback for stray bytes in a UTF-8 file and the
count of them, the stream that replays the sample already read, delimiter
sniffing, and spotting a quote left open. Used by karn.customers.csvparse.

How the encoding is chosen: the first 64 KiB are decoded as UTF-8. If that
works, the file is UTF-8, and a stray byte further on is read as Windows-1252
and counted. If it does not, the sample is UTF-8 all the same when its valid
multi-byte characters are at least as many as its stray bytes (one "é" saved
by a Windows program into a UTF-8 file); else it is Windows-1252.
"""

import codecs
import csv
import io
import re
import threading
from typing import IO, Any

from karn.customers.csv_errors import CsvFormatError, FieldError, Problem, _problem

# --- Encoding --------------------------------------------------------------


class Fallbacks:
    """The bytes of a UTF-8 file that were read as Windows-1252: count, first line.

    Filled while a file is decoded: ``_Counted`` tells the decoding error
    handler which file it is decoding and how many lines came before the chunk.
    """

    __slots__ = ("count", "first_line", "lines_before", "lines_read")

    def __init__(self) -> None:
        self.count = 0
        self.first_line: int | None = None
        self.lines_before = 0  # line ends before the chunk being decoded
        self.lines_read = 0  # line ends in the chunks handed to the decoder

    def note(self, data: bytes, start: int, end: int) -> None:
        self.count += end - start
        if self.first_line is None:
            self.first_line = self.lines_before + data.count(b"\n", 0, start) + 1

    def warnings(self) -> list[Problem]:
        """A warning naming how many bytes and the first line, if there were any."""
        if not self.count:
            return []
        code = "stray_byte" if self.count == 1 else "stray_bytes"
        return [_problem(code, count=self.count, line=self.first_line)]


# The Fallbacks of the file being decoded on this thread (see _Counted).
_decoding = threading.local()


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Read a stray non-UTF-8 byte in a UTF-8 file as Windows-1252, and count it.

    The sample may be pure ASCII while a "Müller" written by Excel in cp1252
    turns up 50,000 rows later; that row must load rather than fail the file,
    and the import says which line had it.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    text = exc.object[exc.start : exc.end].decode("cp1252")
    fallbacks = getattr(_decoding, "fallbacks", None)
    if fallbacks is not None:
        fallbacks.note(exc.object, exc.start, exc.end)
    return text, exc.end


_FALLBACK = "karn.csvparse.cp1252"
codecs.register_error(_FALLBACK, _cp1252_fallback)


def decode_counting(
    data: bytes, encoding: str, fallbacks: Fallbacks, *, final: bool = True
) -> str:
    """Decode data as the stream would, counting stray bytes into fallbacks."""
    _decoding.fallbacks = fallbacks
    decoder = codecs.getincrementaldecoder(encoding)(_errors_for(encoding))
    return decoder.decode(data, final=final)


class _Counted(io.BufferedReader):
    """The bytes of a file for the text layer, which decodes each chunk read1 hands it.

    Before handing over a chunk it points the fallback handler at this file's
    Fallbacks and counts the line ends before the chunk, so a stray byte gets
    its line number without the text layer's help. Line ends are counted as
    "\\n"; in a file with bare "\\r" line ends the first line is named instead.
    """

    def __init__(self, raw: io.RawIOBase, fallbacks: Fallbacks, size: int) -> None:
        super().__init__(raw, buffer_size=size)
        self.fallbacks = fallbacks

    def read1(self, size: int = -1) -> bytes:
        chunk = super().read1(size)
        fallbacks = self.fallbacks
        fallbacks.lines_before = fallbacks.lines_read
        fallbacks.lines_read += chunk.count(b"\n")
        _decoding.fallbacks = fallbacks
        return chunk


_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
# A run of NULs counts once: a block of zeros left by a crash is one damaged
# row, while binary data and UTF-16 without a BOM have control bytes throughout.
_CONTROL_RUN = re.compile(r"\x00+|[\x01-\x08\x0b\x0e-\x1f\x7f]")


def _looks_binary(text: str) -> bool:
    """More than one control character (run) in 64 among the first 4,096."""
    head = text[:4096]
    return len(_CONTROL_RUN.findall(head)) > max(8, len(head) // 64)


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
    # A NUL byte here and there is left to the rows that hold it; a sample full
    # of control bytes is binary (whatever it would decode as).
    if _looks_binary(body[:4096].decode("latin-1")):
        raise CsvFormatError("binary_file")
    try:
        # final=False: a multi-byte character cut at the sample edge is no error.
        codecs.getincrementaldecoder("utf-8")().decode(body, final=complete)
        return encoding or "utf-8"
    except UnicodeDecodeError:
        if encoding:
            # A BOM says UTF-8; stray cp1252 bytes are read by the fallback.
            return encoding
    if _mostly_utf8(body, complete):
        return "utf-8"
    try:
        body.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            "undecodable", line=body[: exc.start].count(b"\n") + 1
        ) from None
    return "cp1252"


def _mostly_utf8(body: bytes, complete: bool) -> bool:
    """Whether a sample that is not all UTF-8 is UTF-8 with a few stray bytes.

    One Windows-1252 "é" must not turn every "ü" of a UTF-8 file into "Ã¼":
    the sample is UTF-8 when it has at least as many valid multi-byte UTF-8
    characters as stray bytes. A Windows-1252 file rarely has any (an "Ã" or
    "Â" followed by a byte from 0x80 to 0xBF), so it stays Windows-1252.
    """
    fallbacks = Fallbacks()
    try:
        text = decode_counting(body, "utf-8", fallbacks, final=complete)
    except UnicodeDecodeError:
        return False  # a byte Windows-1252 has no character for either
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    # Each stray byte became one non-ASCII character.
    return non_ascii - fallbacks.count >= fallbacks.count


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


# --- Quotes left open ------------------------------------------------------

_LINE_END = re.compile(r"\r\n|\r|\n")
# A value of more lines than this with separators on them is taken for rows
# swallowed by a quote left open, even when those rows are not whole.
_MAX_VALUE_LINES = 50


def _unclosed_quote(
    row: list[str],
    n: int,
    need: int,
    headers: list[str],
    delimiter: str,
    line: int,
    last_line: int,
) -> FieldError | None:
    """The error of a row whose value swallowed the rows after it, if one did.

    A quote that opens a value and is never closed (or is closed only on a
    later row) makes the csv module read every line after it, separators and
    all, into that one value. Such a value has a line break followed by text
    with the separator in it, and then either a line shaped like a row (at
    least as many separators as the header less one), or a row that does not
    fit the header (the value ran to the end of the file, or closed in the
    middle of a later row), or more lines than a note in a cell has. A quoted
    comment of a few lines ("regel een\\nregel twee, drie") is none of these.
    n is the row's width as read, need the header's without empty trailing
    columns; the row spans the lines from line to last_line.
    """
    misfit = n < need or _width(row[:n]) > len(headers)
    row_like = max(1, need - 1)
    span = last_line - line
    for index in range(n):
        value = row[index]
        if "\n" not in value and "\r" not in value:
            continue
        for part in _LINE_END.split(value)[1:]:
            found = part.count(delimiter)
            if found and (found >= row_like or misfit or span > _MAX_VALUE_LINES):
                column = headers[index] if index < len(headers) else None
                return FieldError.make(
                    column, "unclosed_quote", first=line, last=last_line, swallowed=span
                )
    return None


def count_fallbacks(stream: IO[bytes], encoding: str) -> Fallbacks:
    """Decode a whole file as parse() would, only to count its stray bytes.

    For a page that shows the file before it is imported: detect() reads the
    first 64 KiB only. Stops at a byte no encoding reads (parse() says which).
    """
    fallbacks = Fallbacks()
    if _errors_for(encoding) != _FALLBACK:
        return fallbacks
    decoder = codecs.getincrementaldecoder(encoding)(_FALLBACK)
    try:
        while chunk := stream.read(1 << 20):
            fallbacks.lines_before = fallbacks.lines_read
            fallbacks.lines_read += chunk.count(b"\n")
            _decoding.fallbacks = fallbacks
            decoder.decode(chunk)
        fallbacks.lines_before = fallbacks.lines_read
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        pass
    return fallbacks
