"""The linear sentiment model: shipped weights, training and serialisation."""

import io
import json
import tarfile

import pytest
from nltk.sentiment.vader import SentiText, VaderConstants

from karn.text import sentiment_model as sm
from karn.text import sentiment_train as st
from karn.text.sentiment import tag_sentiment
from karn.text.sentiment_rules import _SentiText, evidence

TEXTS = [
    "The food was delicious and the staff friendly.",
    "We waited an hour and nobody apologised.",
    "We went there on a Tuesday evening.",
    "Not bad at all, but the dessert was a letdown.",
    "",
]


def test_shipped_english_model_loads_from_the_package():
    model = sm.shipped_model("en")
    assert model is not None and model.lang == "en"
    assert len(model.weights) > 1000
    sources = " ".join(model.info["sources"])
    assert "vaderSentiment 3.3.2" in sources and "tweets" not in sources
    assert sm.model_path("en").stat().st_size < 400_000


def test_shipped_dutch_model_is_trained_on_karns_own_sentences():
    model = sm.shipped_model("nl")
    assert model is not None and model.lang == "nl"
    assert model.info["sources"] == [
        f"data/sentiment_examples_nl.tsv ({len(st.read_examples('nl'))} rows)"
    ]
    assert "cross-validation" in model.info["selected_by"]
    assert any(name.startswith("p:") for name in model.weights)
    assert sm.model_path("nl").stat().st_size < 400_000


NL_TEXTS = [
    "Het eten was heerlijk en de bediening vriendelijk.",
    "We hebben een uur gewacht en niemand zei sorry.",
    "We gingen er op een dinsdagavond eten.",
]


@pytest.mark.parametrize(("lang", "texts"), [("en", TEXTS[:-1]), ("nl", NL_TEXTS)])
def test_labels_come_from_the_model(lang, texts):
    model = sm.shipped_model(lang)
    for text in texts:
        label, score = tag_sentiment(text, lang)
        assert (label, score) == (
            sm.predict(model, text)[0],
            round(sm.predict(model, text)[1], 4),
        )
        assert -1.0 <= score <= 1.0


def test_serialisation_keeps_the_labels():
    model = sm.shipped_model("en")
    again = sm.SentimentModel.from_json(model.to_json())
    assert again == model
    for text in TEXTS:
        assert sm.predict(again, text) == sm.predict(model, text)


def test_other_formats_are_refused():
    text = sm.shipped_model("en").to_json()
    data = json.loads(text)
    data["version"] = 99
    with pytest.raises(ValueError):
        sm.SentimentModel.from_json(json.dumps(data))


def test_features_name_the_rules_and_the_words():
    text = "Not good, but cheap!"
    feats = sm.features(evidence(text, "en"), text, "en")
    assert {"negation", "contrast", "excl", "w:cheap", "b:not_good"} <= set(feats)
    assert "b:good_but" not in feats  # a comma ends the word pairs


def test_features_mark_posts_that_pass_news_on():
    text = 'Om 20.00 uur "het debat" met @kamerlid, zie https://example.nl #politiek'
    feats = sm.features(evidence(text, "nl"), text, "nl")
    assert {"link", "mention", "hashtag", "digits", "quote"} <= set(feats)
    plain = "Het eten was lekker."
    assert not {"link", "mention", "hashtag", "digits", "quote"} & set(
        sm.features(evidence(plain, "nl"), plain, "nl")
    )


def test_features_weigh_the_evidence_per_word():
    short, long = "Slecht.", "Slecht, " + "en toen gingen we naar huis " * 5
    f_short = sm.features(evidence(short, "nl"), short, "nl")
    f_long = sm.features(evidence(long, "nl"), long, "nl")
    assert f_short["negd"] > f_long["negd"] > 0


def test_dutch_features_include_the_beginnings_of_long_words():
    text = "Wachttijden bij de klantenservice"
    nl = sm.features(evidence(text, "nl"), text, "nl")
    assert {"p:wacht", "p:klant"} <= set(nl)
    en = sm.features(evidence("Customer service", "en"), "Customer service", "en")
    assert not any(name.startswith("p:") for name in en)


def test_emphasis_features():
    text = "I LOVE it sooo much!!"
    feats = sm.features(evidence(text, "en"), text, "en")
    assert {"caps", "stretched", "excl", "excl2"} <= set(feats)


def _fake_sdist(tmp_path, ratings=None):
    """A tar in the shape of the vaderSentiment sdist, tweets included."""
    files = {
        "amazonReviewSnippets_GroundTruth": (
            "1_1\t2.5\tWorks great.\n1_2\t0.1\tIt is blue.\n"
        ),
        "nytEditorialSnippets_GroundTruth": "1_1\t-1.9\tA sad day.\n",
        "tweets_GroundTruth": "1\t3.0\tLOVE it\n",
    }
    if ratings:
        files["amazonReviewSnippets_anonDataRatings"] = ratings
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for name, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(f"hutto_ICWSM_2014/{name}.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    with tarfile.open(path, mode="w:gz") as tar:
        data = inner.getvalue()
        info = tarfile.TarInfo(
            "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
        )
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


def test_snippets_are_read_without_the_tweets(tmp_path):
    rows = st.read_vader_snippets(_fake_sdist(tmp_path), sha256=None)
    assert rows == [
        ("Works great.", "positive"),
        ("It is blue.", "neutral"),
        ("A sad day.", "negative"),
    ]


def test_raters_agreement_makes_soft_labels(tmp_path):
    # Amazon 1_1: twenty raters give 2 or 3; 1_2: nearly all give 0; the NYT
    # snippet has no ratings file.
    ratings = (
        "\ufeff1_1\t2.5\t0.51\t[" + ", ".join(["2", "3"] * 10) + "]\n"
        "1_2\t0.1\t0.3\t[" + ", ".join(["0"] * 18 + ["1", "1"]) + "]\n"
    )
    rows = st.read_vader_rated(_fake_sdist(tmp_path, ratings), sha256=None)
    (t1, l1, sure), (t2, l2, calm), (t3, l3, hard) = rows
    assert (l1, l2, l3) == ("positive", "neutral", "negative")
    assert sure[2] > 0.999 and calm[1] > 0.999
    assert hard == (1.0, 0.0, 0.0)  # no ratings: the label itself
    # A mean just above the cut, with raters split, is partly neutral.
    near = st._target_of_ratings(0.6, [0, 1] * 9 + [1, 1])
    assert 0.5 < near[2] < 0.9 and near[1] > 0.1
    assert sum(near) == pytest.approx(1.0)


def test_training_on_soft_labels():
    texts = ["good", "bad", "fine", "good good", "bad bad", "fine fine"]
    labels = ["positive", "negative", "neutral"] * 2
    weights = [1.0] * 6
    hard = st.fit(texts, labels, weights, "en", {}, l2=1.0)
    soft_targets = [st._one_hot(label) for label in labels]
    same = st.fit(texts, labels, weights, "en", {}, l2=1.0, targets=soft_targets)
    assert same == hard
    unsure = [(0.0, 0.5, 0.5)] + soft_targets[1:]
    softer = st.fit(texts, labels, weights, "en", {}, l2=1.0, targets=unsure)
    assert sm.predict(softer, "good")[1] < sm.predict(hard, "good")[1]


def test_only_the_known_source_release_is_accepted(tmp_path):
    with pytest.raises(ValueError):
        st.read_vader_snippets(_fake_sdist(tmp_path))


def test_training_is_deterministic_and_survives_serialisation(tmp_path):
    rows = st.read_examples("en")
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    weights = [1.0] * len(rows)
    first = st.fit(texts, labels, weights, "en", {"sources": ["test"]}, l2=1.0)
    second = st.fit(texts, labels, weights, "en", {"sources": ["test"]}, l2=1.0)
    assert first == second
    path = tmp_path / "model.json"
    path.write_text(first.to_json(), encoding="utf-8")
    loaded = sm.SentimentModel.from_json(path.read_text(encoding="utf-8"))
    for text in texts[:40] + TEXTS:
        assert sm.predict(loaded, text) == sm.predict(first, text)
    # It learns its own training sentences.
    right = sum(sm.predict(first, t)[0] == lab for t, lab in rows)
    assert right / len(texts) > 0.9


def test_own_examples_are_balanced_and_labelled():
    for lang in ("en", "nl"):
        rows = st.read_examples(lang)
        counts = {lab: sum(1 for _, x in rows if x == lab) for lab in sm.LABELS}
        assert min(counts.values()) >= 50, (lang, counts)
        assert len({t for t, _ in rows}) == len(rows)


@pytest.mark.parametrize(
    "text",
    [
        "'great' movie, \"awful\" food -- ok?!",
        "Wow!!! :) :-( <3 it's kind of GOOD... isn't it",
        "a b c 'x' -y- .z. ,,, !!! ???",
        "",
    ],
)
def test_faster_sentitext_splits_like_nltk(text):
    c = VaderConstants()
    ours = _SentiText(text, c.PUNC_LIST, c.REGEX_REMOVE_PUNCTUATION)
    nltk = SentiText(text, c.PUNC_LIST, c.REGEX_REMOVE_PUNCTUATION)
    assert ours.words_and_emoticons == nltk.words_and_emoticons


def test_selection_is_by_cross_validation_on_the_training_rows():
    rows = [(t, lab, 1.0, st._one_hot(lab)) for t, lab in st.read_examples("nl")]
    lines = []
    first = st.select(rows, "nl", grid=(30.0, 1.0), folds=3, log=lines.append)
    assert first == st.select(rows, "nl", grid=(30.0, 1.0), folds=3)
    assert first[0] in (30.0, 1.0) and 0.0 < first[1] <= 1.0
    assert len(lines) == 2 and "standard error" in lines[0]
    # Folds follow the text, not the order of the rows.
    assert st._fold("Het eten was lekker.", 4) == st._fold("Het eten was lekker.", 4)


def test_one_standard_error_rule_prefers_the_stronger_penalty(monkeypatch):
    # Scores per (penalty, fold): 30 is within one standard error of 1.
    table = {30.0: [0.80, 0.82, 0.81], 1.0: [0.80, 0.84, 0.82]}
    calls = []

    class Fixed:
        def __init__(self, l2):
            self.l2 = l2

        def probabilities_of(self, _feats):
            return (1.0, 0.0, 0.0)

    def fake_fit(texts, labels, weights, lang, info, l2=1.0, rows=None, targets=None):
        calls.append(l2)
        return Fixed(l2)

    scores = iter(
        [table[30.0][k] for k in range(3)] + [table[1.0][k] for k in range(3)]
    )
    monkeypatch.setattr(st, "fit", fake_fit)
    monkeypatch.setattr(st, "_macro_f1", lambda pairs: next(scores))
    rows = [(f"zin {i}", "negative", 1.0, (1.0, 0.0, 0.0)) for i in range(30)]
    l2, score = st.select(rows, "nl", grid=(30.0, 1.0), folds=3)
    assert l2 == 30.0 and score == pytest.approx(0.81)
    assert calls == [30.0] * 3 + [1.0] * 3
