"""What the import preview's check of the first rows costs, beside what the
preview already spent reading the whole file for its status and reason counts.

    python bench/import_preview.py [--rows 100000] [--repeat 5] [FILE ...]

Generates a Dutch-Excel style export (semicolons, Windows-1252, a bad row in
every hundred) of --rows rows, or reads the given CSV files, and times:

- baseline: csv_summary.summarise, the whole-file read the preview page did
  before it checked any row;
- check: csv_summary.check_first_rows, which reads the first PREVIEW_ROWS rows
  by the import's own rules to say how many would be rejected and why.

Prints the median seconds of each and the check's share of the page's reading.
"""

import argparse
import io
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from karn.customers import csvparse  # noqa: E402
from karn.customers.csv_summary import (  # noqa: E402
    PREVIEW_ROWS,
    check_first_rows,
    summarise,
)


def generated(rows: int) -> bytes:
    lines = ["Klantnummer;Naam;E-mailadres;Opzegdatum;Maandbedrag;Status;Plaats"]
    for i in range(rows):
        email = f"klant{i}@voorbeeld.nl" if i % 100 else f"klant{i}@"
        lines.append(
            f"K{i};Klant Müller {i};{email};{1 + i % 28:02d}-{1 + i % 12:02d}-2026;"
            f"{i % 90},{i % 100:02d};{'Opgezegd' if i % 3 else 'Actief'};Utrecht"
        )
    return "\r\n".join(lines).encode("cp1252")


def median_seconds(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, data: bytes, repeat: int) -> None:
    detected = csvparse.detect(io.BytesIO(data))
    mapping = detected.mapping
    base = median_seconds(lambda: summarise(io.BytesIO(data), mapping), repeat)
    result = check_first_rows(io.BytesIO(data), mapping)
    check = median_seconds(lambda: check_first_rows(io.BytesIO(data), mapping), repeat)
    print(
        f"{name}: {len(data) / 1e6:.1f} MB; checked {result.checked:,} rows, "
        f"{result.rejected:,} would be rejected"
    )
    print(f"  baseline summarise (whole file): {base:.3f} s")
    print(f"  check_first_rows (first {PREVIEW_ROWS:,}): {check:.3f} s")
    print(f"  the check adds {check / base:.0%} to the preview's reading")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.files:
        for path in args.files:
            with open(path, "rb") as f:
                measure(os.path.basename(path), f.read(), args.repeat)
    else:
        measure(f"generated, {args.rows:,} rows", generated(args.rows), args.repeat)


if __name__ == "__main__":
    main()
