"""Reasons and sentiment of exit comments outside restaurants, and competitors."""

import pytest

from karn.text.competitors import Competitors, brand_evidence, switched_to
from karn.text.reasons import sector_examples, tag_reasons
from karn.text.sentiment import tag_sentiment

LISTED = Competitors.of([("Zeewind Energie", ["Zeewind", "ZWE"]), ("Telvio", [])], 4)


def top(text, lang, **kwargs):
    return tag_reasons(text, lang, **kwargs)[0][0]


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        # The core service did not deliver: delays, cancellations, outages,
        # lost or damaged goods, a product that stopped working.
        ("Our train home was delayed for the third time this week.", "en", "quality"),
        ("The ferry was cancelled twice this month.", "en", "quality"),
        ("Two outages in one week, no internet for days.", "en", "quality"),
        ("The courier company lost my parcel.", "en", "quality"),
        ("The lamp arrived damaged in a torn box.", "en", "quality"),
        (
            "The printer stopped working a week after the warranty ended.",
            "en",
            "quality",
        ),
        ("De bus had elke ochtend vertraging.", "nl", "quality"),
        ("Mijn vlucht naar Lissabon werd geannuleerd.", "nl", "quality"),
        ("Door de storing hadden we twee dagen geen internet.", "nl", "quality"),
        ("Mijn pakketje is kwijtgeraakt.", "nl", "quality"),
        ("De stoel kwam beschadigd aan.", "nl", "quality"),
        ("De wasmachine werkt niet meer, na drie maanden al.", "nl", "quality"),
        # How people and processes treated the customer: waiting for help,
        # staff, billing administration, refunds.
        ("I spent an hour on hold before an agent picked up.", "en", "service"),
        ("The lady at the counter was rude and unhelpful.", "en", "service"),
        ("They sent me a wrong bill three months running.", "en", "service"),
        ("I am still chasing the refund for my returned order.", "en", "service"),
        ("Een uur in de wacht voordat er iemand opnam.", "nl", "service"),
        ("De medewerker aan de balie was onbeleefd.", "nl", "service"),
        ("De facturatie klopte nooit en niemand paste het aan.", "nl", "service"),
        ("Ik wacht nog steeds op de terugbetaling van mijn retour.", "nl", "service"),
        # Price.
        ("The yearly premium went up by a third.", "en", "price"),
        ("Shipping costs are more than the book itself.", "en", "price"),
        ("De premie is weer gestegen.", "nl", "price"),
        ("De maandelijkse kosten zijn te hoog geworden.", "nl", "price"),
        # Need: the customer's situation changed.
        ("We moved to another town.", "en", "need"),
        ("I no longer need the second line.", "en", "need"),
        ("We closed the shop for good.", "en", "need"),
        ("My husband passed away last spring.", "en", "need"),
        ("We zijn naar een andere stad verhuisd.", "nl", "need"),
        ("Ik heb het abonnement niet meer nodig.", "nl", "need"),
        ("Ons bedrijf is gestopt.", "nl", "need"),
        ("Mijn vader is overleden.", "nl", "need"),
    ],
)
def test_reasons_outside_restaurants(text, lang, reason):
    assert top(text, lang) == reason


@pytest.mark.parametrize(
    ("text", "lang", "company"),
    [
        ("Ik ben overgestapt naar Stroomlijn.", "nl", "Stroomlijn"),
        ("We zijn voor Glasnet gekozen.", "nl", "Glasnet"),
        ("Glasnet past net beter bij mij.", "nl", "Glasnet"),
        ("Prima bedrijf, maar Glasnet past beter bij ons.", "nl", "Glasnet"),
        ("I switched to Brightline last month.", "en", "Brightline"),
        ("We went with Orbitel for the whole office.", "en", "Orbitel"),
        ("Signed up with Cloudberry instead.", "en", "Cloudberry"),
    ],
)
def test_a_switch_to_a_named_company_is_brand_without_a_list(text, lang, company):
    assert switched_to(text, lang) == company
    assert top(text, lang) == "brand"


@pytest.mark.parametrize(
    ("text", "lang", "reason"),
    [
        ("Een kleiner pakket past beter bij mij.", "nl", "need"),
        ("Ik woon nu alleen; een kleiner abonnement past beter bij mij.", "nl", "need"),
        ("A smaller plan suits me better now that I live alone.", "en", "need"),
    ],
)
def test_a_plan_that_fits_better_is_no_competitor(text, lang, reason):
    assert switched_to(text, lang) is None
    assert top(text, lang, competitors=LISTED) == reason


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("zeewind belde me met een beter aanbod", "nl"),
        ("Bij ZWE betaal ik minder.", "nl"),
        ("telvio has fibre in my street", "en"),
        ("Zeewind   Energie offered a fixed rate.", "en"),
    ],
)
def test_a_listed_competitor_mentioned_in_any_case_is_brand(text, lang):
    assert brand_evidence(text, lang, LISTED) in ("Zeewind Energie", "Telvio")
    assert top(text, lang, competitors=LISTED) == "brand"


def test_a_listed_name_inside_another_word_is_no_mention():
    assert LISTED.named("Telviolet is a colour, zwemmen is leuk") is None


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("The call wait is over 20 minutes.", "en"),
        ("They have not found my bag yet.", "en"),
        ("My order still has not arrived after two weeks.", "en"),
        ("The router drops the connection every night.", "en"),
        ("De monteur is drie keer niet komen opdagen.", "nl"),
        ("Het pakket is na twee weken nog steeds niet bezorgd.", "nl"),
        ("De wachttijd bij de klantenservice is ruim een half uur.", "nl"),
        ("Mijn koffer is nog steeds zoek.", "nl"),
    ],
)
def test_a_stated_problem_is_negative(text, lang):
    assert tag_sentiment(text, lang)[0] == "negative"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Okay, nothing special.", "en"),
        ("It was alright, nothing more.", "en"),
        ("Oké, niets bijzonders.", "nl"),
        ("Het ging wel, meer niet.", "nl"),
    ],
)
def test_a_lukewarm_opinion_is_neutral(text, lang):
    assert tag_sentiment(text, lang)[0] == "neutral"


SECTORS = {
    "telecom",
    "energy",
    "insurance",
    "banking",
    "ecommerce",
    "software",
    "travel",
    "subscription",
    "healthcare",
}


def test_every_sector_has_thirty_examples_a_language_covering_all_reasons():
    rows = sector_examples()
    assert {sector for sector, *_rest in rows} == SECTORS
    for sector in SECTORS:
        for lang in ("nl", "en"):
            mine = [label for s, _t, lg, label in rows if s == sector and lg == lang]
            assert len(mine) >= 30, (sector, lang)
            assert set(mine) == {"service", "quality", "brand", "price", "need"}
