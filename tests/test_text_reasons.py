"""Departure reasons: seed lexicon, trainable model and their combination."""

import json

import pytest

from karn.text.reasons import (
    REASONS,
    ReasonModel,
    default_model,
    tag_reasons,
    train_reason_model,
)


def top(text, lang, **kwargs):
    return tag_reasons(text, lang, **kwargs)[0][0]


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        ("De klantenservice reageerde nooit op mijn mails.", "nl", "service"),
        ("Lange wachttijd aan de telefoon.", "nl", "service"),
        ("De bediening was onvriendelijk.", "nl", "service"),
        ("Het eten was koud en de saus smakeloos.", "nl", "quality"),
        ("Steeds storingen in de app.", "nl", "quality"),
        ("Veel te duur geworden na de prijsverhoging.", "nl", "price"),
        ("Het abonnementstarief is te hoog.", "nl", "price"),
        ("Ik ben overgestapt naar een andere aanbieder.", "nl", "brand"),
        ("We hebben gekozen voor een concurrent.", "nl", "brand"),
        ("Ik heb het niet meer nodig.", "nl", "need"),
        ("Ik ben verhuisd naar het buitenland.", "nl", "need"),
        ("The staff were rude and nobody called back.", "en", "service"),
        ("Our waiter ignored us for half an hour.", "en", "service"),
        ("The app is full of bugs and keeps crashing.", "en", "quality"),
        ("The pizza was soggy and tasted bland.", "en", "quality"),
        ("Way too expensive after the price increase.", "en", "price"),
        ("I switched to a competitor.", "en", "brand"),
        ("Found a better offer with another provider.", "en", "brand"),
        ("I no longer need it since I retired.", "en", "need"),
        ("We stopped using it after we moved.", "en", "need"),
    ],
)
def test_top_reason(text, lang, reason):
    assert top(text, lang) == reason


def test_several_reasons_best_first_with_confidences():
    found = tag_reasons(
        "Slechte klantenservice en bovendien veel te duur, dus overgestapt naar "
        "een concurrent.",
        "nl",
    )
    reasons = [r for r, _c in found]
    assert {"service", "price", "brand"} <= set(reasons)
    confidences = [c for _r, c in found]
    assert confidences == sorted(confidences, reverse=True)
    assert all(0.0 <= c <= 1.0 for c in confidences)


def test_nothing_recognised_is_other():
    found = tag_reasons("Geen idee eigenlijk.", "nl")
    assert [r for r, _c in found] == ["other"]
    assert 0.0 <= found[0][1] <= 1.0
    assert tag_reasons("   ", "en") == []


def test_seed_only_mode_ignores_the_model():
    model = train_reason_model(
        [("zebra zebra", "en", "price"), ("okapi", "en", "need")] * 200
    )
    assert tag_reasons("zebra", "en", model=model)[0][0] == "price"
    assert tag_reasons("zebra", "en", model=model, seed_only=True)[0][0] == "other"


def test_trained_model_learns_new_vocabulary():
    examples = [
        ("De parkeerplaats was altijd vol", "nl", "quality"),
        ("Nooit een parkeerplaats te vinden", "nl", "quality"),
        ("Parkeerplaats te klein", "nl", "quality"),
        ("Het loket was nooit open", "nl", "service"),
        ("Loket gesloten als ik kwam", "nl", "service"),
        ("Het loket had geen personeel", "nl", "service"),
    ] * 30
    model = train_reason_model(examples)
    assert top("Geen parkeerplaats gevonden", "nl") == "other"
    assert top("Geen parkeerplaats gevonden", "nl", model=model) == "quality"
    assert top("Het loket bleef dicht", "nl", model=model) == "service"


def test_model_round_trips_through_json():
    model = train_reason_model(
        [("too expensive", "en", "price"), ("rude staff", "en", "service")]
    )
    document = model.to_json()
    assert json.loads(document)["format"] == "karn-reason-nb"
    again = ReasonModel.from_json(document)
    assert again.to_json() == document
    text = "expensive staff"
    assert again.predict_proba(text, "en") == model.predict_proba(text, "en")


def test_from_json_rejects_other_documents():
    with pytest.raises(ValueError):
        ReasonModel.from_json('{"format": "something-else", "version": 1}')


def test_training_rejects_unknown_labels_and_languages():
    with pytest.raises(ValueError):
        train_reason_model([("x", "en", "weather")])
    with pytest.raises(ValueError):
        train_reason_model([("x", "fr", "price")])
    with pytest.raises(ValueError):
        train_reason_model([])


def test_shipped_model_covers_every_reason():
    assert default_model().labels == list(REASONS)
    probabilities = default_model().predict_proba("te duur", "nl")
    assert max(probabilities, key=probabilities.get) == "price"
    assert sum(probabilities.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        # Waiting for the vehicle, the gate or the luggage is a delay of the
        # core service; waiting for a person to answer is service.
        ("We sat on the plane for an hour waiting for a gate.", "en", "quality"),
        ("Forty minutes at the carousel waiting for my bags.", "en", "quality"),
        ("I have been waiting on hold for an hour.", "en", "service"),
        ("We hebben een uur op de trein gewacht.", "nl", "quality"),
        ("Ik heb een uur in de wacht gestaan bij de klantenservice.", "nl", "service"),
        # Not getting through, and not being informed, is service.
        ("All lines are busy and I cannot get through to anyone.", "en", "service"),
        ("No announcements and no information while we waited.", "en", "service"),
        ("Ik kwam er niet doorheen, ze nemen niet op.", "nl", "service"),
        ("Niemand vertelde ons iets, geen informatie en geen omroep.", "nl", "service"),
        # A word inside a hashtag or a compound keeps its meaning.
        ("#worstcustomerserviceever", "en", "service"),
        ("Het zaalpersoneel had nergens zin in.", "nl", "service"),
        ("Superlekker en overheerlijk!", "nl", "quality"),
        # What staff do with the dish (forget it, bring it late) is service.
        ("The waiter forgot our starters.", "en", "service"),
        ("Ze waren onze drankjes gewoon vergeten.", "nl", "service"),
        # A product that performs badly is quality.
        ("The laptop freezes and the battery dies within an hour.", "en", "quality"),
        ("Het toestel blijft hangen en de accu is zo leeg.", "nl", "quality"),
    ],
)
def test_classes_of_phrasing_across_sectors(text, lang, reason):
    assert top(text, lang) == reason


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        # Paying as such is no price complaint; a wrong bill is billing
        # administration, which is service.
        ("Ze weigerden de verkeerde rekening recht te zetten.", "nl", "service"),
        ("Eerst betalen, en toen was de monteur nog onbeleefd ook.", "nl", "service"),
        ("Ik betaal veel te veel voor mijn stroom.", "nl", "price"),
        ("Voor de verzending moest ik ineens extra betalen.", "nl", "price"),
    ],
)
def test_paying_is_not_by_itself_a_price_complaint(text, lang, reason):
    assert top(text, lang) == reason


def test_reasons_carry_to_a_sector_the_model_has_not_seen():
    from karn.text.reason_check import leave_one_sector_out

    for lang in ("nl", "en"):
        found = leave_one_sector_out(lang)
        assert found["sectors"] >= 9
        assert found["macro_f1"] >= 0.8, found
