"""Sentiment tagging of Dutch and English exit comments."""

import pytest

from karn.text.lexicon import _dutch_lexicon, _read_pairs, _vader_valences
from karn.text.sentiment import baseline_sentiment, tag_sentiment
from karn.text.sentiment_rules import _tokens, evidence, label_for


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        ("Het eten was heerlijk en de bediening erg vriendelijk!", "nl", "positive"),
        ("Prima service, altijd snel geholpen.", "nl", "positive"),
        ("Slechte service en veel te duur.", "nl", "negative"),
        ("De klantenservice reageerde niet op mijn mails.", "nl", "negative"),
        ("Ik heb opgezegd omdat niemand me terugbelde.", "nl", "negative"),
        ("Ik ben verhuisd naar Utrecht.", "nl", "neutral"),
        ("Great support, they always fixed things quickly.", "en", "positive"),
        ("They never called back.", "en", "negative"),
        ("No response to any of my tickets.", "en", "negative"),
        ("I moved to another city.", "en", "neutral"),
    ],
)
def test_labels_of_plain_comments(text, lang, label):
    assert tag_sentiment(text, lang)[0] == label


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Goed product, maar veel te duur.", "nl"),
        ("Lekker gegeten, maar de wachttijd was belachelijk lang.", "nl"),
        ("Great product but way too expensive.", "en"),
        ("The food was fine, but the waiter was rude.", "en"),
    ],
)
def test_clause_after_contrast_dominates(text, lang):
    assert tag_sentiment(text, lang)[0] == "negative"


def test_contrast_turns_the_other_way_too():
    assert tag_sentiment("Duur, maar het is elke cent waard en top!", "nl")[0] == (
        "positive"
    )


@pytest.mark.parametrize(
    ("positive", "negated", "lang"),
    [
        ("Het eten was goed.", "Het eten was niet goed.", "nl"),
        ("Een aanrader.", "Geen aanrader.", "nl"),
        ("The app is good.", "The app is not good.", "en"),
    ],
)
def test_negation_flips_praise(positive, negated, lang):
    assert tag_sentiment(positive, lang)[0] == "positive"
    assert tag_sentiment(negated, lang)[0] == "negative"


@pytest.mark.parametrize(
    ("positive", "negated"),
    [
        # "niet" last in the clause negates what opened it.
        ("Vriendelijk waren ze zeker.", "Vriendelijk waren ze zeker niet."),
        ("Behulpzaam was de helpdesk.", "Behulpzaam was de helpdesk niet!"),
        # "alles behalve": anything but.
        ("De service was goed.", "De service was alles behalve goed."),
        # Stress accents are read as the plain word.
        ("Echt een aanrader.", "Echt géén aanrader."),
    ],
)
def test_dutch_negation_after_the_word_and_anything_but(positive, negated):
    assert tag_sentiment(positive, "nl")[0] == "positive"
    assert tag_sentiment(negated, "nl")[0] == "negative"


def test_clause_final_niet_stays_in_its_part():
    # The praise is for the food; "niet" belongs to the service.
    food = "Het eten was heerlijk"
    assert evidence(f"{food} en de bediening niet.", "nl").positive == pytest.approx(
        evidence(f"{food}.", "nl").positive
    )
    # "alles behalve" followed by a noun is "everything except".
    assert tag_sentiment("Alles behalve de soep was heerlijk.", "nl")[0] == "positive"


def test_negated_complaint_is_not_negative():
    assert tag_sentiment("Not bad at all.", "en")[0] == "positive"
    assert tag_sentiment("Geen enkel probleem gehad.", "nl")[1] > 0


def test_geen_enkele_reactie_is_negative():
    assert tag_sentiment("Geen enkele reactie gekregen.", "nl")[0] == "negative"


def test_intensifiers_strengthen():
    plain = tag_sentiment("De bediening was vriendelijk.", "nl")[1]
    boosted = tag_sentiment("De bediening was heel erg vriendelijk.", "nl")[1]
    assert boosted > plain > 0
    duur = tag_sentiment("Het is duur.", "nl")[1]
    veel_te_duur = tag_sentiment("Het is veel te duur.", "nl")[1]
    assert veel_te_duur < duur < 0


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Opgezegd: nooit teruggebeld.", "nl"),
        ("Overgestapt: de wachttijd was steeds een uur.", "nl"),
        ("Nobody answered, we were on hold for an hour.", "en"),
        ("The app kept crashing.", "en"),
    ],
)
def test_domain_words_the_plain_lexicons_miss(text, lang):
    assert tag_sentiment(text, lang)[0] == "negative"
    assert baseline_sentiment(text, lang)[0] != "negative"


def test_scores_stay_in_range():
    for text, lang in [
        ("!!!! heel heel erg slecht slecht slecht waardeloos!!!", "nl"),
        ("BEST BEST BEST amazing wonderful love it!!!!", "en"),
        ("", "nl"),
        ("   ", "en"),
    ]:
        label, score = tag_sentiment(text, lang)
        assert -1.0 <= score <= 1.0
        assert label in ("negative", "neutral", "positive")
    assert tag_sentiment("", "nl") == ("neutral", 0.0)


def test_preposition_naar_is_not_negative():
    # Pattern's lexicon reads "naar" as the adjective "akelig".
    assert tag_sentiment("Ik ben verhuisd naar Utrecht.", "nl")[0] == "neutral"
    assert baseline_sentiment("Ik ben verhuisd naar Utrecht.", "nl")[0] == "negative"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError):
        tag_sentiment("Bonjour", "fr")


def test_baseline_uses_the_plain_thresholds():
    assert label_for(0.06, "en", baseline=True) == "positive"
    assert label_for(0.06, "nl", baseline=True) == "neutral"
    assert baseline_sentiment("Het eten was heerlijk.", "nl")[0] == "positive"
    assert baseline_sentiment("The food was horrible.", "en")[0] == "negative"


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Wat een ellende met al die vertraging.", "negative"),
        ("Petje af voor de keuken!", "positive"),
        ("Veel plezier gehad, echt genoten.", "positive"),
        ("Ik erger me aan het gedoe met de facturen.", "negative"),
    ],
)
def test_dutch_nouns_and_verbs_carry_sentiment(text, label):
    # Pattern's lexicon holds adjectives only; these come from Karn's supplement.
    assert tag_sentiment(text, "nl")[0] == label


@pytest.mark.parametrize(
    ("text", "lang", "label"),
    [
        # A concession yields to the main clause, in both languages.
        ("Hoewel het duur was, hebben we heerlijk gegeten.", "nl", "positive"),
        ("Although it was pricey, the food was excellent.", "en", "positive"),
        # Contrast: the complaint after "maar" / "but" decides.
        (
            "Het eten was lekker, maar we hebben een uur moeten wachten.",
            "nl",
            "negative",
        ),
        ("Nice people, but the app crashed every day.", "en", "negative"),
        # Negation of praise, and of a complaint.
        ("Het personeel was niet vriendelijk en de koffie was lauw.", "nl", "negative"),
        ("The staff were not friendly.", "en", "negative"),
        ("I would not recommend them to anyone.", "en", "negative"),
        ("Geen enkele klacht, alles was prima geregeld.", "nl", "positive"),
        # Exit-comment words the plain lexicons lack.
        ("De app werkt niet meer sinds de update.", "nl", "negative"),
        ("Ik ben overgestapt omdat de wachttijd steeds langer werd.", "nl", "negative"),
        ("Nooit teruggebeld, dus ik heb opgezegd.", "nl", "negative"),
        (
            "We switched to a competitor because support never called back.",
            "en",
            "negative",
        ),
        # Praise and encouragement in phrases.
        ("Knap gedaan door het hele team, ga zo door!", "nl", "positive"),
        ("Must try the dumplings!", "en", "positive"),
        # Posts that pass news on, with a link.
        (
            "Lees hier het verslag van de raadsvergadering: https://example.nl/verslag",
            "nl",
            "neutral",
        ),
        ("The new schedule is posted at http://example.com/schedule", "en", "neutral"),
        ("Morgen om tien uur is de vergadering in het gemeentehuis.", "nl", "neutral"),
    ],
)
def test_labels_of_the_shipped_taggers(text, lang, label):
    result, score = tag_sentiment(text, lang)
    assert result == label
    assert -1.0 <= score <= 1.0


def test_dutch_compounds_with_an_intensifying_prefix():
    lex = _dutch_lexicon()
    assert lex.valence("megalekker") > lex.valence("lekker") > 0
    assert lex.valence("reuzeleuk") > lex.valence("leuk") > 0
    # A verbal prefix is no intensifier: "vergoed" (refunded) is not "goed".
    assert lex.valence("vergoed") is None
    assert tag_sentiment("Megalekker gegeten!", "nl")[0] == "positive"


def test_dutch_words_valued_through_their_english_translation():
    lex = _dutch_lexicon()
    vader = _vader_valences()
    assert lex.valence("hulp") == vader["help"] > 0
    assert lex.valence("paniek") == vader["panic"] < 0
    # Every pair names an English word that VADER rates, and Karn's own
    # supplement still wins ("crisis" is milder there than VADER's).
    pairs = _read_pairs("sentiment_nl_vader.tsv")
    assert len(pairs) > 200
    assert all(english in vader for _dutch, english in pairs)
    assert lex.valence("crisis") == -1.6


def test_emoticons_are_read_but_not_in_times_of_day():
    assert _tokens("great:) see you at 10:30 =D") == [
        "great",
        ":)",
        "see",
        "you",
        "at",
        "10",
        "30",
        "=d",
    ]
    assert _tokens("sad </3 :/ xD") == ["sad", "</3", ":/", "xd"]
    assert tag_sentiment("ok =)", "en")[1] > tag_sentiment("ok", "en")[1]
