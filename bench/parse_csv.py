"""Benchmark the customer CSV parser against a plain csv.DictReader baseline.

Usage, from the repository root:
    PYTHONPATH=. .venv/bin/python bench/parse_csv.py [rows]   (default 100,000)
"""

import csv
import random
import sys
import tempfile
import time
import timeit
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from email_validator import validate_email

from karn.customers.csvparse import RowError, parse, validate_record

HEADER = (
    "Klantnummer;E-mailadres;Naam;Telefoon;Taal;Opzegdatum;Abonnement;Segment;"
    "Regio;Looptijd (maanden);Maandbedrag;Klantwaarde;Reden;Opmerking\r\n"
)
PLANS = ("Basis", "Plus", "Premium", "Zakelijk")
SEGMENTS = ("MKB", "Particulier", "Enterprise")
REGIONS = ("Noord-Holland", "Zuid-Holland", "Utrecht", "Gelderland", "Brabant")


def write_file(path: Path, rows: int, seed: int = 7) -> None:
    """A semicolon-separated cp1252 export like a Dutch CRM writes."""
    rng = random.Random(seed)
    with path.open("w", encoding="cp1252", newline="") as out:
        out.write(HEADER)
        for i in range(1, rows + 1):
            day, month = rng.randint(1, 28), rng.randint(1, 12)
            revenue = rng.randint(500, 25000)
            out.write(
                f"K{i:07d};klant.{i}@voorbeeld-{i % 97}.nl;Jan Müller {i};"
                f"06-{rng.randint(10000000, 99999999)};{rng.choice(('NL', 'en', ''))};"
                f"{day:02d}-{month:02d}-2024;{rng.choice(PLANS)};"
                f"{rng.choice(SEGMENTS)};{rng.choice(REGIONS)};{rng.randint(1, 120)};"
                f"€ {revenue // 100},{revenue % 100:02d};"
                f"{rng.randint(1, 9)}.{rng.randint(100, 999)},{rng.randint(10, 99)};"
                f'prijs;"te duur; ging naar concurrent"\r\n'
            )


def measure(label: str, rows: int, run: Callable[[], int]) -> None:
    """Time run() and trace its peak memory in a second, separate pass."""
    start = time.perf_counter()
    count = run()
    elapsed = time.perf_counter() - start
    tracemalloc.start()
    run()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{label:<28} {count:>8} rows  {elapsed:6.2f} s  "
        f"{rows / elapsed:>9,.0f} rows/s  peak {peak / 1024:8,.0f} KiB"
    )


def main() -> None:
    """Generate the file, then time the baseline and the parser on it."""
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers.csv"
        write_file(path, rows)
        size = path.stat().st_size
        print(f"{rows:,} rows, {size / 1024 / 1024:.1f} MiB, {sys.version.split()[0]}")

        def baseline() -> int:
            with path.open(encoding="cp1252", newline="") as f:
                return sum(1 for _ in csv.DictReader(f, delimiter=";"))

        def parser() -> int:
            bad = 0
            n = 0
            with path.open("rb") as f:
                for item in parse(f):
                    n += 1
                    bad += isinstance(item, RowError)
            if bad:
                raise SystemExit(f"{bad} rows rejected; the generator is wrong")
            return n

        measure("csv.DictReader (baseline)", rows, baseline)
        measure("csvparse.parse", rows, parser)

    # Why the parser checks ordinary addresses itself before email_validator.
    address = "Klant.12345@Voorbeeld-Winkel.nl"
    full = timeit.timeit(
        lambda: validate_email(address, check_deliverability=False), number=20_000
    )
    fast = timeit.timeit(lambda: validate_record({"email": address}), number=20_000)
    print(
        f"e-mail check: email_validator {full / 20_000 * 1e6:.1f} us, "
        f"validate_record {fast / 20_000 * 1e6:.1f} us per address"
    )


if __name__ == "__main__":
    main()
