"""The linear sentiment model: shipped weights, training and serialisation."""

import io
import json
import tarfile

import pytest
from nltk.sentiment.vader import SentiText, VaderConstants

from karn.analysis import sentiment_model as sm
from karn.analysis import sentiment_train as st
from karn.analysis.sentiment import _SentiText, evidence, tag_sentiment

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


def test_dutch_has_no_model_and_uses_the_rules():
    # Without licensed Dutch data a model did not beat the rules; see README.
    assert sm.shipped_model("nl") is None


def test_english_labels_come_from_the_model():
    model = sm.shipped_model("en")
    for text in TEXTS[:-1]:
        label, score = tag_sentiment(text, "en")
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


def _fake_sdist(tmp_path):
    """A tar in the shape of the vaderSentiment sdist, tweets included."""
    files = {
        "amazonReviewSnippets": "1_1\t2.5\tWorks great.\n1_2\t0.1\tIt is blue.\n",
        "nytEditorialSnippets": "1_1\t-1.9\tA sad day.\n",
        "tweets": "1\t3.0\tLOVE it\n",
    }
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        for name, body in files.items():
            data = body.encode()
            info = tarfile.TarInfo(f"hutto_ICWSM_2014/{name}_GroundTruth.txt")
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
