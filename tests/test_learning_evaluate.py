"""The evaluation of the taggers on labelled CSV files."""

import csv
import json

import pytest

from karn.learning.evaluate import evaluate, main, read_labelled_csv


def write_csv(path, rows, header=("text", "label", "source")):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


SENTIMENT_ROWS = [
    ("Heerlijk gegeten, super vriendelijke bediening!", "positive", "own"),
    ("Prima service, altijd snel geholpen.", "positive", "own"),
    ("Slechte service en veel te duur.", "negative", "own"),
    ("Nooit teruggebeld, waardeloos.", "negative", "own"),
    ("Ik ben verhuisd.", "neutral", "own"),
    ("Het eten was niet lekker.", "positive", "own"),  # deliberately mislabelled
]


def test_read_labelled_csv_ignores_other_columns(tmp_path):
    path = write_csv(tmp_path / "s.csv", SENTIMENT_ROWS)
    rows = read_labelled_csv(path)
    assert rows[0] == ("Heerlijk gegeten, super vriendelijke bediening!", "positive")
    assert len(rows) == 6


def test_read_labelled_csv_needs_text_and_label(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [("x", "y")], header=("text", "gold"))
    with pytest.raises(ValueError, match="label"):
        read_labelled_csv(path)


def test_sentiment_evaluation(tmp_path):
    rows = read_labelled_csv(write_csv(tmp_path / "s.csv", SENTIMENT_ROWS))
    result = evaluate("sentiment", "nl", rows)
    assert result["task"] == "sentiment"
    assert result["lang"] == "nl"
    assert result["n"] == 6
    assert result["confusion"] == {
        "negative": {"negative": 2},
        "neutral": {"neutral": 1},
        "positive": {"positive": 2, "negative": 1},
    }
    # positive: P 2/2, R 2/3 -> 0.8; negative: P 2/3, R 1 -> 0.8; neutral 1.0
    assert result["per_class"] == {"negative": 0.8, "neutral": 1.0, "positive": 0.8}
    assert result["macro_f1"] == pytest.approx(0.8667, abs=1e-4)
    assert result["texts_per_s"] > 0


def test_reason_evaluation_predicts_among_present_labels(tmp_path):
    rows = [
        ("Veel te duur.", "price"),
        ("De prijs is omhoog gegaan.", "price"),
        ("De klantenservice belde nooit terug.", "service"),
        ("Ik ben overgestapt naar een concurrent, ook te duur.", "service"),
        ("Geen idee eigenlijk.", "service"),
    ]
    result = evaluate("reason", "nl", rows)
    # Brand is not among the file's labels, so price is the answer there; a
    # text with no recognised reason counts as "other" and is wrong.
    assert result["confusion"] == {
        "price": {"price": 2},
        "service": {"service": 1, "price": 1, "other": 1},
    }
    assert result["per_class"]["price"] == 0.8
    assert result["per_class"]["service"] == 0.5


def test_baseline_mode_is_reported(tmp_path):
    rows = [("They never called back.", "negative")]
    assert evaluate("sentiment", "en", rows, baseline=True)["confusion"] == {
        "negative": {"neutral": 1}
    }
    assert evaluate("sentiment", "en", rows)["confusion"] == {
        "negative": {"negative": 1}
    }


def test_unknown_task_or_language(tmp_path):
    with pytest.raises(ValueError):
        evaluate("topic", "nl", [("x", "y")])
    with pytest.raises(ValueError):
        evaluate("sentiment", "de", [("x", "y")])


def test_command_line_prints_one_json_line(tmp_path, capsys):
    path = write_csv(tmp_path / "s.csv", SENTIMENT_ROWS)
    assert main(["--task", "sentiment", "--lang", "nl", "--baseline", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    result = json.loads(out)
    assert result["mode"] == "baseline"
    assert set(result) >= {
        "task",
        "lang",
        "n",
        "macro_f1",
        "per_class",
        "confusion",
        "texts_per_s",
    }
