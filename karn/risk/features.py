"""What the churn-risk model may know of a customer, as a numeric matrix.

Only what is known about a customer before any departure becomes a feature:
tenure, monthly revenue, lifetime value, plan, segment, region, language and
the imported attributes (``extra``). Never: the departure date, the status,
the stated reason or comment, whether paying failed, survey answers and call
notes (they exist only after a departure), the intake ``source`` (departures
arrive by API or Stripe, current customers by import: it would tell the label,
not the risk), the identifiers (customer number, email, name, phone) and
created/updated times.

Imported attributes are detected from their values, on the customers trained
on: a column is numeric when nearly all its values read as numbers, otherwise
categorical. Left out are columns whose name says they identify a person or
tell of a departure (``id``, ``email``, ``reason``, ``churn``, dates, … and
what the customer import reads as a status, reason or departure date, such as
``Churn Category``), identifier-like columns (nearly unique whole numbers or
words), free text (long or nearly unique strings), dates, columns filled for
fewer than 5% of the customers and constant ones. A category seen fewer than
``max(10, 0.2% of the customers)`` times is pooled into "other", as is any
beyond the 60 most common.

A column (a customer field too) that passes those is still left out when it
tells who has already left rather than who may leave: when being filled in,
or one of its values, is held by at least half of one group (those who left,
or those who stayed) and by at most 1% of the other, too few to be chance
(one in a million) at the share of departures. So a churn category written
at a departure, a renewal date cleared by it, or a monthly revenue set to 0
on leaving; not a plan that many who left have too. The user may keep such a
column in (RISK_KEEP_COLUMNS) when it is filled in before customers leave.
"""

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from karn.risk.models import TELLS

FIXED_NUMERIC = ("tenure_months", "monthly_revenue", "lifetime_value")
FIXED_CATEGORICAL = ("plan", "segment", "region", "language")
EXTRA = "extra:"
OTHER = "\x00other"
MIN_COVERAGE = 0.05
NUMERIC_SHARE = 0.95
NEARLY_UNIQUE = 0.9
LONG_TEXT = 40
MAX_CATEGORIES = 60

# Name words that say a column identifies a person or tells of a departure.
EXCLUDED_WORDS = {
    "id",
    "uuid",
    "guid",
    "row",
    "rownumber",
    "index",
    "nr",
    "email",
    "mail",
    "e",
    "name",
    "naam",
    "surname",
    "firstname",
    "lastname",
    "achternaam",
    "voornaam",
    "phone",
    "telefoon",
    "tel",
    "mobile",
    "address",
    "adres",
    "street",
    "straat",
    "postcode",
    "zip",
    "zipcode",
    "postal",
    "postalcode",
    "iban",
    "reason",
    "reden",
    "opzegreden",
    "comment",
    "comments",
    "opmerking",
    "toelichting",
    "feedback",
    "churn",
    "churned",
    "exit",
    "exited",
    "attrition",
    "departed",
    "departure",
    "vertrokken",
    "left",
    "cancel",
    "cancelled",
    "canceled",
    "cancellation",
    "opgezegd",
    "opzegging",
    "opzegdatum",
    "klantstatus",
    "actief",
    "date",
    "datum",
    "time",
    "timestamp",
    "at",
    "on",
}
_DATE = re.compile(r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T].*)?$")


def name_words(name: str) -> list[str]:
    """``CustomerId`` → customer, id; ``churn_date`` → churn, date."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if not text:
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass
class Feature:
    """One column of the matrix: where it comes from and how it is coded."""

    name: str  # a customer field, or "extra:<imported column>"
    kind: str  # "num" or "cat"
    # Categorical: the kept values; a value's code is its index, "other" is
    # len(categories), missing is NaN.
    categories: list[str] = field(default_factory=list)
    # The typical value: the median, or the code of the most common category.
    typical: float = float("nan")
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def label(self) -> str:
        return self.name.removeprefix(EXTRA)

    @property
    def is_extra(self) -> bool:
        return self.name.startswith(EXTRA)

    def raw(self, record: dict):
        if self.is_extra:
            return (record.get("extra") or {}).get(self.label)
        return record.get(self.name)

    def code(self, value) -> float:
        if self.kind == "num":
            number = _number(value)
            return np.nan if number is None else number
        text = _text(value)
        if text is None:
            return np.nan
        if not self._index:
            self._index.update((c, i) for i, c in enumerate(self.categories))
        return float(self._index.get(text, len(self.categories)))

    def describe(self, coded: float) -> str:
        """A coded value in words: the number, or the category."""
        if coded is None or (isinstance(coded, float) and math.isnan(coded)):
            return "—"
        if self.kind == "num":
            return f"{coded:g}" if abs(coded) < 1e6 else f"{coded:,.0f}"
        i = int(coded)
        return self.categories[i] if i < len(self.categories) else OTHER


@dataclass
class FeatureSet:
    """The features of one model version, fitted on the customers trained on."""

    features: list[Feature]
    # Columns seen but left out, with why (for the evaluation line and tests).
    left_out: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_mask(self) -> np.ndarray:
        return np.array([f.kind == "cat" for f in self.features], dtype=bool)

    def matrix(self, records: list[dict]) -> np.ndarray:
        out = np.empty((len(records), len(self.features)), dtype=np.float64)
        for j, feature in enumerate(self.features):
            if feature.kind == "num" and not feature.is_extra:
                # Read from the database as numbers or None: NaN for None.
                out[:, j] = np.array([r.get(feature.name) for r in records], float)
            else:
                out[:, j] = _coded(feature, _column(feature, records))
        return out


def _column(feature: Feature, records: list[dict]) -> list:
    """The feature's raw values of these records (``Feature.raw`` per row)."""
    if feature.is_extra:
        label = feature.label
        return [(r.get("extra") or {}).get(label) for r in records]
    return [r.get(feature.name) for r in records]


def _coded(feature: Feature, values: list) -> list[float]:
    """The codes of a column's values, each distinct value coded once: a
    column holds few distinct values, and coding is the costly part when a
    million customers are read. Only when the values are of one type (and
    None): ``True`` equals ``1`` as a key but not as a category."""
    try:
        distinct = set(values)
    except TypeError:  # an unhashable value (a list in imported JSON)
        distinct = None
    if distinct is None or len({v.__class__ for v in distinct} - {type(None)}) > 1:
        return [feature.code(v) for v in values]
    table = {v: feature.code(v) for v in distinct}
    return [table[v] for v in values]


def _categorical(name: str, values: list[str], n: int) -> Feature:
    counts = Counter(values)
    least = max(10, math.ceil(0.002 * n))
    kept = [v for v, c in counts.most_common(MAX_CATEGORIES) if c >= least]
    feature = Feature(name, "cat", categories=sorted(kept))
    top = counts.most_common(1)[0][0]
    feature.typical = feature.code(top)
    return feature


def _numeric(name: str, numbers: list[float]) -> Feature:
    return Feature(name, "num", typical=float(np.median(numbers)))


# What the customer import reads as telling of a departure.
DEPARTURE_TARGETS = {"status", "stated_reason", "stated_comment", "departed_at"}
# A column tells who left when the other group's share of a value is at most
# this, and so few are not chance (at the share of departures).
TELLS_SHARE = 0.01
TELLS_CHANCE = 1e-6
TELLS_LEAST = 20


def _why_not_extra(key: str, values: list, n: int) -> str | None:
    """Why an imported column cannot be a feature; None when it can."""
    from karn.customers.csv_headers import guess_field

    words = set(name_words(key))
    if words & EXCLUDED_WORDS or guess_field(key)[0] in DEPARTURE_TARGETS:
        return "name"
    present = [v for v in values if _text(v) is not None]
    if len(present) < MIN_COVERAGE * n:
        return "sparse"
    texts = [_text(v) for v in present]
    distinct = len(set(texts))
    # One value, written for (nearly) everyone; where it is written for some
    # only ("x" or nothing), being written is what the column says.
    if distinct < 2 and len(present) > (1 - MIN_COVERAGE) * n:
        return "constant"
    if sum(1 for t in texts[:1000] if _DATE.match(t)) > 0.5 * min(len(texts), 1000):
        return "date"
    numbers = [_number(v) for v in present]
    share = sum(x is not None for x in numbers) / len(present)
    unique = distinct / len(present)
    if share >= NUMERIC_SHARE:
        whole = all(x is None or x.is_integer() for x in numbers)
        if whole and unique >= NEARLY_UNIQUE:
            return "identifier"
        return None
    if unique >= NEARLY_UNIQUE or (unique > 0.5 and distinct > 50):
        return "identifier or free text"
    if np.mean([len(t) for t in texts]) > LONG_TEXT:
        return "free text"
    return None


def _binomial_below(k: int, n: int, p: float) -> float:
    """P(at most k of n), each with chance p."""
    from scipy.stats import binom

    return float(binom.cdf(k, n, p))


def _key(value) -> str:
    """A value as one comparable text; "" when missing (None, blank, NaN)."""
    number = _number(value)
    if number is not None:
        return repr(number)  # "0", 0 and 0.0 alike
    if isinstance(value, float):  # NaN
        return ""
    return _text(value) or ""


def tells_who_left(values: list, departed: np.ndarray) -> bool:
    """Whether a column's values tell who has already left (see the module):
    being filled in, or one value, held by at least half of one group
    (those who left, or those who stayed) and by at most 1% of the other."""
    n = len(values)
    leavers = int(departed.sum())
    stayers = n - leavers
    if n == 0 or leavers == 0 or stayers == 0:
        return False
    keys = np.array([_key(v) for v in values], dtype=object)
    distinct, inverse = np.unique(keys, return_inverse=True)
    held = np.bincount(inverse, minlength=len(distinct))
    held_left = np.bincount(inverse, weights=departed, minlength=len(distinct))
    groups = [(int(h), int(h_left)) for h, h_left in zip(held, held_left, strict=True)]
    blank = np.flatnonzero(distinct == "")
    missing, missing_left = groups[blank[0]] if len(blank) else (0, 0)
    groups.append((n - missing, leavers - missing_left))  # filled in at all
    for size, left in groups:
        stayed = size - left
        for holders, others, group, other_group in (
            (left, stayed, leavers, stayers),
            (stayed, left, stayers, leavers),
        ):
            if holders < max(TELLS_LEAST, 0.5 * group):
                continue
            if others > TELLS_SHARE * other_group:
                continue
            # So few of the other group are not chance at its share.
            if _binomial_below(others, size, other_group / n) < TELLS_CHANCE:
                return True
    return False


def names_column(wanted: str, name: str) -> bool:
    """Whether a user's name for a column (RISK_KEEP_COLUMNS) is this
    feature's: an imported column's own name, or a customer field's code, its
    label or a header the import reads as it (MonthlyCharges)."""
    from karn.customers.csv_headers import TARGET_LABELS, guess_field, normalise_header

    key = normalise_header(wanted)
    if name.startswith(EXTRA):
        return key == normalise_header(name.removeprefix(EXTRA))
    labels = (name, *TARGET_LABELS.get(name, ()))
    return key in {normalise_header(label) for label in labels} or (
        guess_field(wanted)[0] == name
    )


def fit(records: list[dict], keep: frozenset[str] = frozenset()) -> FeatureSet:
    """The features for these customers (the ones a model is trained on).

    ``keep``: columns (an imported column's name, or a customer field) the
    user knows are filled in before a departure: not left out as telling who
    left (RISK_KEEP_COLUMNS)."""
    n = len(records)
    features: list[Feature] = []
    left_out: dict[str, str] = {}
    departed = (
        np.array([bool(r["departed"]) for r in records])
        if records and all("departed" in r for r in records)
        else None
    )

    def tells(values: list, name: str) -> bool:
        if departed is None or any(names_column(wanted, name) for wanted in keep):
            return False
        return tells_who_left(values, departed)

    for name in FIXED_NUMERIC:
        column = [r.get(name) for r in records]
        numbers = [x for v in column if (x := _number(v)) is not None]
        if len(numbers) < MIN_COVERAGE * n or len(set(numbers)) < 2:
            left_out[name] = "sparse or constant"
            continue
        if tells(column, name):
            left_out[name] = TELLS
            continue
        features.append(_numeric(name, numbers))
    for name in FIXED_CATEGORICAL:
        column = [r.get(name) for r in records]
        values = [t for v in column if (t := _text(v)) is not None]
        if len(values) < MIN_COVERAGE * n or len(set(values)) < 2:
            left_out[name] = "sparse or constant"
            continue
        if tells(column, name):
            left_out[name] = TELLS
            continue
        features.append(_categorical(name, values, n))
    keys: dict[str, None] = {}
    for r in records:
        for key in r.get("extra") or {}:
            keys.setdefault(key, None)
    for key in keys:
        values = [(r.get("extra") or {}).get(key) for r in records]
        why = _why_not_extra(key, values, n) or (TELLS if tells(values, key) else None)
        if why:
            left_out[EXTRA + key] = why
            continue
        numbers = [x for v in values if (x := _number(v)) is not None]
        texts = [t for v in values if (t := _text(v)) is not None]
        if len(numbers) >= NUMERIC_SHARE * len(texts):
            features.append(_numeric(EXTRA + key, numbers))
        else:
            features.append(_categorical(EXTRA + key, texts, n))
    return FeatureSet(features, left_out)
