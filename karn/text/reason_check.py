"""How far the reason tagger carries to a sector it has not seen.

Run ``python -m karn.text.reason_check`` to print, per language, the macro-F1
over the five reasons when the model is trained without one sector of
``reason_examples_sectors.tsv`` and tested on that sector's sentences, in
turn. No public labelled set covers most of Karn's sectors (energy,
insurance, subscriptions ...), so this is the check that a fix holds beyond
the sectors the public sets happen to cover; the seed lexicon takes part as
in use, the model is the shipped one's training without the held-out sector.
"""

import json
import sys

from karn.text.reasons import (
    REASONS,
    sector_examples,
    shipped_examples,
    tag_reasons,
    train_reason_model,
)

KNOWN = tuple(r for r in REASONS if r != "other")


def leave_one_sector_out(lang: str) -> dict:
    """Macro-F1 and per-reason F1 of ``lang`` over held-out sectors."""
    rows = sector_examples()
    sectors = sorted({sector for sector, *_rest in rows})
    in_sectors = {(text, lg, label) for _s, text, lg, label in rows}
    general = [row for row in shipped_examples() if row not in in_sectors]
    tp = dict.fromkeys(REASONS, 0)
    fp = dict.fromkeys(REASONS, 0)
    fn = dict.fromkeys(REASONS, 0)
    for held in sectors:
        train = general + [(t, lg, lab) for s, t, lg, lab in rows if s != held]
        model = train_reason_model(train)
        for sector, text, lg, label in rows:
            if sector != held or lg != lang:
                continue
            found = tag_reasons(text, lg, model=model)
            predicted = found[0][0] if found else "other"
            if predicted == label:
                tp[label] += 1
            else:
                fp[predicted] += 1
                fn[label] += 1
    per_class = {
        r: round(2 * tp[r] / max(2 * tp[r] + fp[r] + fn[r], 1), 4) for r in KNOWN
    }
    return {
        "lang": lang,
        "sectors": len(sectors),
        "macro_f1": round(sum(per_class.values()) / len(per_class), 4),
        "per_class": per_class,
    }


def main() -> int:
    for lang in ("nl", "en"):
        sys.stdout.write(json.dumps(leave_one_sector_out(lang)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
