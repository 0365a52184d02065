"""Training the reason tagger on the platform's own labelled data.

Labelled examples come from three places:

- every submitted response whose respondent picked a main reason and wrote
  something in its free-text answers: the text of those answers, labelled with
  that main reason;
- every reason tag a person corrected, on an answer, a call note or a
  feedback item: the text labelled with the corrected reason. A correction
  overrides: a corrected answer is its own example, and is left out of its
  response's text;
- the examples shipped with Karn (``data/reason_examples.tsv``), for a cold
  start. The seed lexicon keeps working beside any model.

A fixed part of the platform's examples (``HELD_OUT_PERCENT``, chosen by a hash
of the person, so the same people every time and never half of a person) is
never trained on: every version is measured on it, the active one and the new
one alike, per language, before the new one is used.

Privacy: a word or word pair enters a trained model only when at least
``MIN_PEOPLE`` different people used it (the shipped examples' words are
public and always allowed), so a name, an address or a number one customer
wrote never ends up in a model, and erasing a customer's text leaves nothing of
it in the models.
"""

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from karn.accounts import audit
from karn.accounts.models import User
from karn.callbacks.models import CallNote
from karn.customers.models import Customer
from karn.extensions import db
from karn.feedback.tagging import corrected_examples
from karn.learning.evaluate import evaluate
from karn.surveys.models import Answer, Response
from karn.text import model_store
from karn.text.language import detect_language
from karn.text.models import TagCorrection, TagModel
from karn.text.reasons import (
    ReasonModel,
    features,
    shipped_examples,
    train_reason_model,
)

HELD_OUT_PERCENT = 20
MIN_PEOPLE = 3
LANGS = ("nl", "en")


@dataclass(frozen=True)
class Example:
    """One labelled text of the platform."""

    key: str  # "response:12", "answer:5", "note:7" or "feedback:9"
    person: str  # who wrote or said it: "customer:3", or the key when unknown
    text: str
    lang: str
    label: str
    source: str  # "response" or "correction"


def _default_lang() -> str:
    return current_app.config.get("DEFAULT_LANGUAGE", "nl")


def _person(customer_id: int | None, key: str) -> str:
    return f"customer:{customer_id}" if customer_id is not None else key


def _corrected_reasons() -> tuple[dict[int, str], dict[int, str]]:
    """The latest corrected reason per answer and per note."""
    answers: dict[int, str] = {}
    notes: dict[int, str] = {}
    rows = db.session.execute(
        sa.select(
            TagCorrection.answer_id, TagCorrection.note_id, TagCorrection.new_reason
        )
        .where(TagCorrection.new_reason.is_not(None))
        .order_by(TagCorrection.id)
    )
    for answer_id, note_id, reason in rows:
        if answer_id is not None:
            answers[answer_id] = reason.value
        else:
            notes[note_id] = reason.value
    return answers, notes


def platform_examples() -> list[Example]:
    """Every labelled example the platform holds, corrections first."""
    default = _default_lang()
    corrected_answers, corrected_notes = _corrected_reasons()
    out: list[Example] = []

    def add(key, customer_id, text, lang, label, source):
        text = (text or "").strip()
        if text:
            lang = detect_language(text, default=lang or default)
            out.append(
                Example(key, _person(customer_id, key), text, lang, label, source)
            )

    if corrected_answers:
        ids = sorted(corrected_answers)
        for start in range(0, len(ids), 500):
            rows = db.session.execute(
                sa.select(
                    Answer.id, Answer.text, Response.language, Response.customer_id
                )
                .join(Response, Response.id == Answer.response_id)
                .where(Answer.id.in_(ids[start : start + 500]))
            )
            for answer_id, text, lang, customer_id in rows:
                add(
                    f"answer:{answer_id}",
                    customer_id,
                    text,
                    lang.value,
                    corrected_answers[answer_id],
                    "correction",
                )
    if corrected_notes:
        ids = sorted(corrected_notes)
        for start in range(0, len(ids), 500):
            rows = db.session.execute(
                sa.select(
                    CallNote.id,
                    CallNote.text,
                    sa.func.coalesce(
                        CallNote.language, User.language, Customer.language
                    ),
                    CallNote.customer_id,
                )
                .outerjoin(User, User.id == CallNote.author_id)
                .outerjoin(Customer, Customer.id == CallNote.customer_id)
                .where(CallNote.id.in_(ids[start : start + 500]))
            )
            for note_id, text, lang, customer_id in rows:
                add(
                    f"note:{note_id}",
                    customer_id,
                    text,
                    getattr(lang, "value", lang),
                    corrected_notes[note_id],
                    "correction",
                )
    # Feedback items whose reason a person chose (karn.feedback.tagging).
    for item_id, customer_id, text, lang, reason in corrected_examples():
        add(f"feedback:{item_id}", customer_id, text, lang, reason, "correction")

    # Responses with a main reason and some free text, answers in a fixed order.
    rows = db.session.execute(
        sa.select(
            Response.id,
            Response.customer_id,
            Response.language,
            Response.primary_reason,
            Answer.id,
            Answer.text,
        )
        .join(Answer, Answer.response_id == Response.id)
        .where(
            Response.submitted_at.is_not(None),
            Response.primary_reason.is_not(None),
            Answer.text.is_not(None),
            Answer.text != "",
        )
        .order_by(Response.id, Answer.question_key)
    )
    current = None
    texts: list[str] = []

    def flush():
        if current is not None and texts:
            rid, customer_id, lang, reason = current
            add(
                f"response:{rid}",
                customer_id,
                "\n".join(texts),
                lang,
                reason,
                "response",
            )

    for rid, customer_id, lang, reason, answer_id, text in rows:
        if current is None or current[0] != rid:
            flush()
            current, texts = (rid, customer_id, lang.value, reason.value), []
        if answer_id not in corrected_answers and text.strip():
            texts.append(text.strip())
    flush()
    return out


def is_held_out(example: Example) -> bool:
    """The fixed part of the people whose examples are only used to measure."""
    digest = hashlib.sha256(example.person.encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def _counts(examples) -> dict[str, dict[str, int]]:
    out: dict[str, Counter] = {lang: Counter() for lang in LANGS}
    for ex in examples:
        out.setdefault(ex.lang, Counter())[ex.label] += 1
    return {lang: dict(sorted(c.items())) for lang, c in out.items()}


def fit(train: list[Example], min_people: int = MIN_PEOPLE) -> ReasonModel:
    """A model on the training examples and the shipped ones, privacy-pruned."""
    seed = shipped_examples()
    model = train_reason_model([(e.text, e.lang, e.label) for e in train] + seed)
    allowed = {f for text, lang, _label in seed for f in features(text, lang)}
    by_person: dict[str, set[str]] = defaultdict(set)
    for ex in train:
        by_person[ex.person].update(features(ex.text, ex.lang))
    people: Counter[str] = Counter()
    for found in by_person.values():
        people.update(found)
    allowed.update(f for f, n in people.items() if n >= min_people)
    return ReasonModel(
        labels=model.labels,
        doc_counts=model.doc_counts,
        feature_counts={
            label: {f: c for f, c in counts.items() if f in allowed}
            for label, counts in model.feature_counts.items()
        },
        alpha=model.alpha,
        trained_on=model.trained_on,
    )


def _measure(model: ReasonModel, rows: list[tuple[str, str]], lang: str) -> dict:
    result = evaluate("reason", lang, rows, model=model)
    return {
        "macro_f1": result["macro_f1"],
        "accuracy": result["accuracy"],
        "per_class": result["per_class"],
    }


@dataclass
class TrainingRun:
    """A model trained on the platform's data, measured, not yet stored."""

    model: ReasonModel
    examples: dict
    metrics: dict
    current_version: int
    platform_examples: int = 0
    corrections: int = 0
    notes: list[str] = field(default_factory=list)

    def better_or_equal(self) -> bool:
        """Whether the new model does at least as well wherever it was measured."""
        return all(
            m["new"]["macro_f1"] >= m["current"]["macro_f1"]
            for m in self.metrics["held_out"].values()
            if m["n"]
        )


def train_from_platform(min_people: int = MIN_PEOPLE) -> TrainingRun:
    """Collect, split, train and measure (nothing is stored)."""
    examples = platform_examples()
    held = [e for e in examples if is_held_out(e)]
    train = [e for e in examples if not is_held_out(e)]
    model = fit(train, min_people=min_people)
    current_version, current = model_store.active_reason_model()
    metrics: dict = {"held_out_percent": HELD_OUT_PERCENT, "held_out": {}}
    for lang in LANGS:
        rows = [(e.text, e.label) for e in held if e.lang == lang]
        entry: dict = {"n": len(rows)}
        if rows:
            entry["current"] = {
                "version": current_version,
                **_measure(current, rows, lang),
            }
            entry["new"] = _measure(model, rows, lang)
        metrics["held_out"][lang] = entry
    seed = shipped_examples()
    return TrainingRun(
        model=model,
        examples={
            "train": _counts(train),
            "held_out": _counts(held),
            "corrections": sum(e.source == "correction" for e in examples),
            "seed": _counts(
                Example("", "", t, lang, label, "seed") for t, lang, label in seed
            ),
            "min_people": min_people,
        },
        metrics=metrics,
        current_version=current_version,
        platform_examples=len(examples),
        corrections=sum(e.source == "correction" for e in examples),
    )


def store(run: TrainingRun, created_by: str | None) -> TagModel:
    """Keep a trained model as the next version (not active). Caller commits."""
    row = TagModel(
        task=model_store.TASK,
        version=model_store.next_version(),
        created_by=created_by,
        active=False,
        examples=run.examples,
        metrics=run.metrics,
        payload=run.model.to_json(),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "analysis.model_train",
        row,
        task=row.task,
        version=row.version,
        by=created_by,
        examples=run.platform_examples,
        macro_f1={
            lang: entry["new"]["macro_f1"]
            for lang, entry in run.metrics["held_out"].items()
            if entry["n"]
        },
    )
    return row
