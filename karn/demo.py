"""A labelled demo data set, so a newcomer sees every page of Karn populated.

Everything here is invented: the customers, their answers and the call notes
were written for the demo, and every demo customer carries ``{"demo": "yes"}``
in its extra attributes. Answers go through Karn's own submission path
(``responses.submit_invitation``) with the clock set to the moment of
answering, so the tags, shown reasons and call tasks are what Karn itself
would have made.
"""

import math
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from karn import clock
from karn.accounts import operations
from karn.accounts.models import User
from karn.analysis.models import ImprovementAction
from karn.analysis.tagging import tags_for
from karn.callbacks.models import (
    SOURCE_PRIORITY,
    CallNote,
    CallNoteReason,
    CallTask,
    WinBack,
)
from karn.customers.models import Customer, Suppression
from karn.enums import (
    CallOutcome,
    CallTaskSource,
    CallTaskStatus,
    InvitationStatus,
    Language,
    Reason,
    Role,
    Source,
)
from karn.extensions import db
from karn.surveys import definition, delivery, links, responses
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation, SurveyVersion

DEMO_MARK = {"demo": "yes"}
EXTERNAL_PREFIX = "DEMO-"

# Known passwords, printed by `flask demo seed`: this is a demo database only.
DEMO_LOGINS: tuple[tuple[str, str, Role, Language, str], ...] = (
    ("admin@example.com", "Demo Beheerder", Role.ADMIN, Language.NL, "demo-admin-123"),
    (
        "manager@example.com",
        "Marieke Jansen (demo)",
        Role.MANAGER,
        Language.NL,
        "demo-manager-123",
    ),
    (
        "sanne@example.com",
        "Sanne Bakker (demo)",
        Role.STAFF,
        Language.NL,
        "demo-staff-123",
    ),
    ("tom@example.com", "Tom Visser (demo)", Role.STAFF, Language.EN, "demo-staff-123"),
)

ACTION_TITLE = "Terugbelgarantie klantenservice binnen 24 uur"
ACTION_DESCRIPTION = (
    "Wie de klantenservice belt en niet direct geholpen wordt, wordt binnen 24 uur "
    "teruggebeld door een vaste medewerker. (Demo-gegevens.)"
)

BATCH = 1000
RESPONSE_BATCH = 250
TZ = ZoneInfo("Europe/Amsterdam")
DAY = timedelta(days=1)
REMINDER_DAYS = (5, 12)
LINK_VALID_DAYS = 60


class DemoError(RuntimeError):
    """The demo cannot be seeded here; the message says why."""


# --------------------------------------------------------------- the people

FIRST_NL = (
    "Anne Bram Daan Eva Femke Gijs Hanna Iris Jeroen Joost Julia Kees Lars Lieke "
    "Lotte Maarten Marloes Noor Pieter Rik Roos Ruben Sanne Sem Sophie Stijn Thijs "
    "Vera Willem Yara Bas Floor Koen Merel Niels Esther Hans Ingrid Wouter Fleur"
).split()
LAST_NL = (
    "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|"
    "de Boer|Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|"
    "de Wit|Dijkstra|Smits|de Graaf|van der Meer|Kok|Jacobs|de Haan|Vermeulen|"
    "van den Heuvel|Schouten|Willems|Hoekstra|Koster|Prins|Postma"
).split("|")
FIRST_EN = (
    "Oliver Emma James Amelia Noah Sophia Liam Grace Lucas Chloe Ethan Ava Mia "
    "Daniel Hannah Samuel Priya Arjun Mei Carlos Lucia Tomasz Anna Ahmed Fatima "
    "Jonas Elena Marco Sara Kevin"
).split()
LAST_EN = (
    "Smith Johnson Brown Taylor Wilson Evans Walker Wright Green Hall Patel Khan "
    "Kowalski Rossi Garcia Müller Novak Schmidt Silva Chen Nguyen Murphy O'Brien "
    "Andersson Costa"
).split()

# Weights roughly follow the provinces' populations.
REGIONS = {
    "Zuid-Holland": 21,
    "Noord-Holland": 17,
    "Noord-Brabant": 15,
    "Gelderland": 12,
    "Utrecht": 8,
    "Overijssel": 6,
    "Limburg": 6,
    "Friesland": 4,
    "Groningen": 3,
    "Drenthe": 3,
    "Flevoland": 2,
    "Zeeland": 2,
}

# segment: (share, {plan: (share, monthly price, spread)}, median tenure months)
SEGMENTS: dict[str, tuple[float, dict[str, tuple[float, float, float]], float]] = {
    "Particulier": (
        0.62,
        {
            "Basis": (0.45, 9.95, 0.0),
            "Plus": (0.35, 19.95, 0.0),
            "Premium": (0.20, 34.95, 0.0),
        },
        18,
    ),
    "MKB": (
        0.28,
        {
            "Zakelijk Start": (0.55, 49.0, 0.15),
            "Zakelijk Pro": (0.45, 129.0, 0.25),
        },
        30,
    ),
    "Enterprise": (0.10, {"Enterprise": (1.0, 950.0, 0.6)}, 46),
}

SOURCES = {
    "Particulier": {Source.CSV: 40, Source.API: 25, Source.STRIPE: 35},
    "MKB": {Source.CSV: 50, Source.API: 35, Source.STRIPE: 15},
    "Enterprise": {Source.CSV: 70, Source.API: 30},
}

COMPETITORS = ("Nimbus", "Velda", "Klaverweb", "Orbitel", "Brightline", "Zonnehuis")

# ------------------------------------------------------------- the reasons

REASONS = [r.value for r in Reason]
# Before the improvement action: service first, as the research found.
BASE_MIX = {
    "service": 0.33,
    "quality": 0.19,
    "brand": 0.16,
    "price": 0.14,
    "need": 0.11,
    "other": 0.07,
}
SEGMENT_FACTORS = {
    "Particulier": {"price": 1.4},
    "MKB": {"service": 1.1, "need": 1.25},
    "Enterprise": {"service": 1.15, "quality": 1.3, "price": 0.6},
}
# What the action achieves, reached over its first two months.
SERVICE_AFTER_ACTION = 0.55
ACTION_RAMP_DAYS = 60

TONES = ("negative", "neutral", "positive")
TONE_MIX = {
    "service": (0.65, 0.25, 0.10),
    "quality": (0.55, 0.30, 0.15),
    "brand": (0.25, 0.45, 0.30),
    "price": (0.45, 0.35, 0.20),
    "need": (0.15, 0.50, 0.35),
    "other": (0.30, 0.45, 0.25),
}

# --------------------------------------------------- free text for the demo

# Written for the demo; placeholders are filled at random so texts vary.
TEXTS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "nl": {
        "service": {
            "negative": (
                "De klantenservice reageerde pas na {weeks} weken op mijn vraag.",
                "Ik ben {times} doorverbonden en niemand kon mij helpen.",
                "Mijn klacht over de factuur is nooit opgelost, ondanks beloftes.",
                "Telefonisch was u nauwelijks bereikbaar, ik hing steeds "
                "{minutes} minuten in de wacht.",
                "Een medewerker beloofde terug te bellen, maar dat is nooit gebeurd.",
                "Ik werd onvriendelijk te woord gestaan toen ik een storing meldde.",
            ),
            "neutral": (
                "Sneller reageren op e-mails had geholpen.",
                "Een vaste contactpersoon voor mijn vragen was prettig geweest.",
                "De chat was alleen overdag open, dat paste niet bij mijn werktijden.",
                "Ik had graag sneller antwoord gehad op mijn vraag over de factuur.",
                "Iets meer uitleg bij het installeren had geholpen.",
            ),
            "positive": (
                "De medewerkers waren altijd vriendelijk, daar lag het niet aan.",
                "Sinds kort word je snel teruggebeld, dat is een flinke verbetering.",
                "Goede hulp gehad van de helpdesk, maar het was niet genoeg om te "
                "blijven.",
                "Prima service, bedankt voor de afgelopen jaren.",
                "De klantenservice loste mijn probleem uiteindelijk netjes op.",
            ),
        },
        "quality": {
            "negative": (
                "Het product ging steeds kapot en niemand kon het oplossen.",
                "De verbinding viel {times} per week weg.",
                "De app crashte voortdurend na de laatste update.",
                "Veel storingen de laatste maanden, daar werd ik moe van.",
                "De kwaliteit is achteruitgegaan sinds ik klant werd.",
            ),
            "neutral": (
                "De kwaliteit was wisselend, soms goed en soms niet.",
                "Een stabielere app had mij misschien gehouden.",
                "Ik miste een paar functies die ik nodig had.",
                "De levering duurde vaak langer dan aangegeven.",
                "Het werkte, maar niet altijd zoals beloofd.",
            ),
            "positive": (
                "Het product zelf was goed, daar ligt het niet aan.",
                "Kwalitatief prima, alleen paste het niet meer bij mij.",
                "De nieuwe versie is echt beter, jammer dat ik al had opgezegd.",
                "Betrouwbare dienst, nooit problemen mee gehad.",
                "Ik was tevreden over de kwaliteit van de dienst.",
            ),
        },
        "brand": {
            "negative": (
                "Bij {competitor} krijg ik meer voor minder moeite.",
                "{competitor} biedt alles in één pakket, jullie niet.",
                "Ik vond jullie merk achterhaald vergeleken met {competitor}.",
                "Na de fusie voelde het niet meer als hetzelfde bedrijf.",
                "Het imago van jullie bedrijf is de laatste tijd flink beschadigd.",
            ),
            "neutral": (
                "Ik ben overgestapt naar {competitor} omdat mijn werkgever daar "
                "korting heeft.",
                "Mijn partner zat al bij {competitor}, dus we hebben het samengevoegd.",
                "Een collega raadde {competitor} aan en dat wilde ik proberen.",
                "Ik wilde eens iets anders proberen na al die jaren.",
                "{competitor} had een aanbieding die ik wilde uitproberen.",
            ),
            "positive": (
                "Jullie deden het prima, maar {competitor} past net beter bij mij.",
                "Geen klachten, ik wil gewoon eens iets nieuws.",
                "Misschien kom ik terug als {competitor} tegenvalt.",
                "Fijn bedrijf, alleen biedt {competitor} net wat ik zoek.",
                "Goede ervaring gehad, dank daarvoor.",
            ),
        },
        "price": {
            "negative": (
                "Te duur voor wat je krijgt, de concurrent is veel goedkoper.",
                "De prijsverhoging van {pct} procent was de druppel.",
                "Elk jaar duurder zonder dat er iets beter wordt.",
                "Nieuwe klanten krijgen korting en trouwe klanten betalen de "
                "hoofdprijs.",
                "De kosten liepen ongemerkt op door allerlei toeslagen.",
            ),
            "neutral": (
                "Een goedkoper abonnement zonder extra's had mij gehouden.",
                "Met een kleine korting was ik gebleven.",
                "Ik moest bezuinigen en dit abonnement was de eerste post.",
                "Maandelijks opzegbaar tegen een lagere prijs zou helpen.",
                "De prijs paste niet meer in mijn budget.",
            ),
            "positive": (
                "Goede dienst, maar op dit moment kan ik het niet betalen.",
                "Jullie zijn het geld zeker waard, alleen nu niet voor mij.",
                "Prima prijs-kwaliteitverhouding, maar elders net wat goedkoper.",
                "Als de prijs weer zakt, kom ik graag terug.",
                "Fijne dienst, alleen het budget liet het niet toe.",
            ),
        },
        "need": {
            "negative": (
                "Het abonnement was niet aan te passen aan mijn nieuwe situatie.",
                "Ik kon niet tijdelijk pauzeren, dus heb ik maar opgezegd.",
                "Voor ons kleinere team was er geen passend pakket.",
                "Na mijn verhuizing kon het niet mee, erg omslachtig.",
                "Jullie boden geen oplossing toen ons bedrijf kromp.",
            ),
            "neutral": (
                "Ik ben verhuisd en heb het niet meer nodig.",
                "Ons bedrijf is gestopt met deze activiteiten.",
                "De kinderen zijn het huis uit, we gebruiken het nauwelijks nog.",
                "Ik werk nu vanuit kantoor en heb thuis niets meer nodig.",
                "We zijn samengegaan met een bedrijf dat al een contract had.",
            ),
            "positive": (
                "Eigenlijk was ik best tevreden, maar ik ben naar het buitenland "
                "verhuisd.",
                "Niets mis mee, mijn situatie is gewoon veranderd.",
                "Tevreden klant geweest, maar ik heb het niet meer nodig.",
                "Fijne jaren gehad, mijn behoefte is veranderd.",
                "Als ik het weer nodig heb, kom ik zeker terug.",
            ),
        },
        "other": {
            "negative": (
                "Het opzeggen zelf was onnodig ingewikkeld.",
                "Ik vond de hoeveelheid reclamemail storend.",
                "Ik werd te vaak gebeld met aanbiedingen.",
                "De website was onoverzichtelijk en ik kon niets vinden.",
                "Ik kreeg {times} een herinnering voor een rekening die al betaald "
                "was.",
            ),
            "neutral": (
                "Geen specifieke reden, het was tijd voor iets anders.",
                "Het contract liep af en ik heb het niet verlengd.",
                "Ik had het abonnement alleen voor een project nodig.",
                "Persoonlijke omstandigheden.",
                "Ik wil liever minder abonnementen hebben.",
            ),
            "positive": (
                "Niets aan te merken, bedankt voor alles.",
                "Alles was in orde, ik hoop jullie later weer te zien.",
                "Dank voor de prettige samenwerking.",
                "Jullie hoefden niets anders te doen.",
                "Prima geregeld, ook het opzeggen ging makkelijk.",
            ),
        },
    },
    "en": {
        "service": {
            "negative": (
                "Customer service took {weeks} weeks to answer my question.",
                "I was transferred {times} and nobody could help me.",
                "My complaint about the invoice was never resolved, despite promises.",
                "You were almost impossible to reach by phone; I was on hold for "
                "{minutes} minutes every time.",
                "Someone promised to call me back, but that never happened.",
                "The agent was rude when I reported an outage.",
            ),
            "neutral": (
                "Faster replies to emails would have helped.",
                "A single contact person for my questions would have been nice.",
                "The chat was only open during office hours, which did not suit me.",
                "I would have liked a quicker answer about my bill.",
                "A bit more help with the installation would have been useful.",
            ),
            "positive": (
                "The staff were always friendly, that was not the problem.",
                "Lately they call you back quickly, which is a real improvement.",
                "The helpdesk was helpful, but it was not enough to make me stay.",
                "Good service, thank you for the past few years.",
                "Support sorted out my problem nicely in the end.",
            ),
        },
        "quality": {
            "negative": (
                "The product kept breaking and nobody could fix it.",
                "The connection dropped {times} a week.",
                "The app crashed constantly after the last update.",
                "Lots of outages in recent months; I got tired of it.",
                "The quality has gone down since I signed up.",
            ),
            "neutral": (
                "The quality was patchy, sometimes good and sometimes not.",
                "A more stable app might have kept me.",
                "I missed a few features that I needed.",
                "Deliveries often took longer than promised.",
                "It worked, but not always as advertised.",
            ),
            "positive": (
                "The product itself was good, that was not the reason.",
                "Quality was fine, it just no longer suited me.",
                "The new version is much better, a pity I had already cancelled.",
                "Reliable service, never had any trouble with it.",
                "I was happy with the quality of the service.",
            ),
        },
        "brand": {
            "negative": (
                "With {competitor} I get more for less hassle.",
                "{competitor} offers everything in one package and you do not.",
                "Your brand felt dated compared with {competitor}.",
                "After the merger it no longer felt like the same company.",
                "Your company's reputation has taken a real hit lately.",
            ),
            "neutral": (
                "I moved to {competitor} because my employer gets a discount there.",
                "My partner was already with {competitor}, so we combined accounts.",
                "A colleague recommended {competitor} and I wanted to try it.",
                "After all these years I just wanted to try something different.",
                "{competitor} had an offer I wanted to try out.",
            ),
            "positive": (
                "You did fine, but {competitor} suits me slightly better.",
                "No complaints, I just fancied a change.",
                "I may come back if {competitor} disappoints.",
                "Nice company, but {competitor} has exactly what I need.",
                "Good experience overall, thank you.",
            ),
        },
        "price": {
            "negative": (
                "Too expensive for what you get; the competitor is much cheaper.",
                "The {pct} percent price increase was the last straw.",
                "It gets more expensive every year without getting any better.",
                "New customers get discounts while loyal customers pay full price.",
                "The costs crept up through all sorts of surcharges.",
            ),
            "neutral": (
                "A cheaper plan without the extras would have kept me.",
                "A small discount would have made me stay.",
                "I had to cut costs and this subscription was the first to go.",
                "A monthly plan at a lower price would help.",
                "The price no longer fitted my budget.",
            ),
            "positive": (
                "Good service, but I cannot afford it at the moment.",
                "You are definitely worth the money, just not for me right now.",
                "Good value for money, but slightly cheaper elsewhere.",
                "If the price comes down again I would happily return.",
                "Lovely service, the budget just did not allow it.",
            ),
        },
        "need": {
            "negative": (
                "The plan could not be adjusted to my new situation.",
                "I could not pause the subscription, so I cancelled it.",
                "There was no suitable plan for our smaller team.",
                "After I moved house it could not come with me, which was a hassle.",
                "You had no answer when our company downsized.",
            ),
            "neutral": (
                "I moved and no longer need it.",
                "Our company stopped doing this kind of work.",
                "The kids have left home and we hardly use it any more.",
                "I work from the office now and no longer need it at home.",
                "We merged with a company that already had a contract.",
            ),
            "positive": (
                "I was actually quite happy, but I moved abroad.",
                "Nothing wrong with it, my situation simply changed.",
                "I was a satisfied customer, but I no longer need it.",
                "Had some good years with you, my needs have changed.",
                "If I need it again I will certainly come back.",
            ),
        },
        "other": {
            "negative": (
                "Cancelling was needlessly complicated.",
                "I found the amount of marketing email annoying.",
                "I was called far too often with offers.",
                "The website was confusing and I could never find anything.",
                "I got {times} a reminder for a bill I had already paid.",
            ),
            "neutral": (
                "No particular reason, it was time for something else.",
                "The contract ended and I did not renew it.",
                "I only needed the subscription for one project.",
                "Personal circumstances.",
                "I would rather have fewer subscriptions.",
            ),
            "positive": (
                "Nothing to complain about, thanks for everything.",
                "All was fine, I hope to see you again later.",
                "Thanks for the pleasant cooperation.",
                "There was nothing more you could have done.",
                "Well organised, even cancelling was easy.",
            ),
        },
    },
}

CLOSERS = {
    "nl": {
        "negative": ("Erg jammer.", "Dit moet echt beter.", "Zonde.", "Teleurgesteld."),
        "neutral": ("Verder geen opmerkingen.", "Succes verder.", "Dat was het."),
        "positive": ("Bedankt!", "Succes verder!", "Hartelijke groet."),
    },
    "en": {
        "negative": ("Such a shame.", "This really must improve.", "Disappointing."),
        "neutral": ("No further comments.", "Good luck.", "That is all."),
        "positive": ("Thanks!", "All the best!", "Kind regards."),
    },
}

FILLERS = {
    "nl": {
        "weeks": ("twee", "drie", "vier"),
        "times": ("drie keer", "vier keer", "vijf keer", "twee keer"),
        "minutes": ("twintig", "dertig", "veertig", "45"),
        "pct": ("8", "10", "12", "15", "20"),
    },
    "en": {
        "weeks": ("two", "three", "four"),
        "times": ("three times", "four times", "five times", "twice"),
        "minutes": ("twenty", "thirty", "forty", "45"),
        "pct": ("8", "10", "12", "15", "20"),
    },
}

# What staff write after a call, per reason heard.
CALL_TEXTS = {
    "nl": {
        "service": (
            "Klant vertelde dat de klantenservice na een storing {weeks} weken "
            "niets van zich liet horen.",
            "Meneer was boos over het steeds opnieuw moeten uitleggen van zijn "
            "probleem aan verschillende medewerkers.",
            "Mevrouw gaf aan dat beloofde terugbelafspraken niet werden nagekomen.",
            "Klant vond de wachttijd aan de telefoon onacceptabel lang.",
        ),
        "quality": (
            "Klant had maandenlang last van storingen en is daarom vertrokken.",
            "De app werkte niet goed op haar telefoon, dat was de doorslag.",
            "Klant miste functies die de concurrent wel heeft.",
        ),
        "brand": (
            "Klant is overgestapt naar {competitor}, vooral vanwege het totaalpakket.",
            "Via het werk kon mevrouw voordelig naar {competitor}.",
            "Meneer vond {competitor} moderner, maar was verder tevreden over ons.",
        ),
        "price": (
            "Klant gaf aan dat de prijsverhoging van {pct} procent de doorslag gaf.",
            "Mevrouw moest bezuinigen; met een goedkoper pakket was ze gebleven.",
            "Klant vond het oneerlijk dat nieuwe klanten korting krijgen.",
        ),
        "need": (
            "Klant is verhuisd en heeft de dienst niet meer nodig.",
            "Bedrijf is gekrompen, het pakket was te groot geworden.",
            "Mevrouw gebruikt het sinds haar pensioen nauwelijks nog.",
        ),
        "other": (
            "Klant had geen duidelijke reden, het contract liep gewoon af.",
            "Meneer ergerde zich aan de vele reclamemails.",
        ),
    },
    "en": {
        "service": (
            "Customer said support did not get back to him for {weeks} weeks "
            "after an outage.",
            "She was frustrated at having to explain the problem to a different "
            "agent every time.",
            "Customer said promised call-backs never happened.",
        ),
        "quality": (
            "Customer had months of outages and left because of them.",
            "The app kept crashing on his phone; that decided it.",
        ),
        "brand": (
            "Customer moved to {competitor} for the bundle.",
            "Her employer offers {competitor} at a discount.",
        ),
        "price": (
            "Customer said the {pct} percent price rise was the deciding factor.",
            "He had to cut costs; a cheaper plan would have kept him.",
        ),
        "need": (
            "Customer moved abroad and no longer needs the service.",
            "Their team shrank and the plan was too big for them.",
        ),
        "other": ("Customer had no clear reason; the contract simply ended.",),
    },
}

CALL_OUTCOME_TEXTS = {
    "nl": {
        CallOutcome.NO_ANSWER: ("Geen gehoor.", "Niet opgenomen, later opnieuw."),
        CallOutcome.VOICEMAIL: (
            "Voicemail ingesproken met het verzoek terug te bellen.",
            "Voicemail, bericht achtergelaten.",
        ),
        CallOutcome.WRONG_NUMBER: ("Nummer klopt niet, hoort bij iemand anders.",),
        CallOutcome.DECLINED: ("Klant wilde liever niet praten, prima.",),
    },
    "en": {
        CallOutcome.NO_ANSWER: ("No answer.", "Did not pick up, will try again."),
        CallOutcome.VOICEMAIL: ("Left a voicemail asking to call back.",),
        CallOutcome.WRONG_NUMBER: ("Wrong number, belongs to someone else.",),
        CallOutcome.DECLINED: ("Customer preferred not to talk, which is fine.",),
    },
}

WILL_RETURN_TEXTS = {
    "nl": (
        " Klant overweegt terug te komen als we dit oplossen; follow-up ingepland.",
        " Staat open voor een aanbod om terug te komen.",
    ),
    "en": (
        " Customer would consider coming back if we fix this; follow-up planned.",
        " Open to an offer to come back.",
    ),
}

CALL_TIMES = {
    "nl": ("doordeweeks na 18.00 uur", "'s ochtends", "tussen 12 en 13 uur", ""),
    "en": ("weekdays after 6 pm", "mornings", "lunchtime", ""),
}


# ------------------------------------------------------------------ helpers


def _pick(rng: random.Random, weights: dict) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _fill(rng: random.Random, text: str, lang: str) -> str:
    fillers = FILLERS[lang]
    return text.format(
        competitor=rng.choice(COMPETITORS),
        **{name: rng.choice(options) for name, options in fillers.items()},
    )


def demo_comment(rng: random.Random, lang: str, reason: str, tone: str) -> str:
    """A free-text answer written for the demo, varied by combination."""
    bank = TEXTS[lang]
    parts = [_fill(rng, rng.choice(bank[reason][tone]), lang)]
    if rng.random() < 0.3:
        # A second thought, about the same reason or something else.
        other = reason if rng.random() < 0.5 else rng.choice(REASONS)
        extra = _fill(rng, rng.choice(bank[other][tone]), lang)
        if extra != parts[0]:
            parts.append(extra)
    if rng.random() < 0.25:
        parts.append(rng.choice(CLOSERS[lang][tone]))
    text = " ".join(parts)
    roll = rng.random()
    # People type carelessly: a missing full stop or a lower-case start.
    if roll < 0.12:
        text = text.rstrip(".")
    elif roll < 0.18:
        text = text[0].lower() + text[1:]
    elif roll < 0.21 and tone == "negative":
        text = text.rstrip(".") + "!!"
    return text


def _reason_mix(segment: str, at: datetime, action_start: datetime) -> dict:
    mix = dict(BASE_MIX)
    for reason, factor in SEGMENT_FACTORS.get(segment, {}).items():
        mix[reason] *= factor
    if at >= action_start:
        progress = min(1.0, (at - action_start) / timedelta(days=ACTION_RAMP_DAYS))
        mix["service"] *= 1 - (1 - SERVICE_AFTER_ACTION) * progress
    return mix


def _business_hours(rng: random.Random, at: datetime) -> datetime:
    """The moment moved into 8:00-21:00 Dutch time, as quiet hours would."""
    local = at.astimezone(TZ)
    if 8 <= local.hour < 21:
        return at
    if local.hour >= 21:
        local += DAY
    local = local.replace(hour=8, minute=rng.randrange(60), second=rng.randrange(60))
    return local.astimezone(UTC)


def _seasonal_days(
    rng: random.Random, start: datetime, now: datetime, count: int
) -> list[datetime]:
    """Departure times: more around New Year (contract ends), fewer in summer."""
    days = max(1, (now - start).days)
    weights = []
    for offset in range(days):
        day = start + offset * DAY
        doy = day.timetuple().tm_yday
        season = 1 + 0.35 * math.cos(2 * math.pi * (doy - 10) / 365.25)
        september = 0.25 * math.exp(-(((doy - 250) / 14) ** 2))
        weekday = 0.7 if day.weekday() >= 5 else 1.0
        weights.append((season + september) * weekday)
    chosen = rng.choices(range(days), weights=weights, k=count)
    result = []
    for offset in chosen:
        moment = start + offset * DAY + timedelta(seconds=rng.randrange(86_400))
        result.append(min(moment, now - timedelta(minutes=5)))
    return sorted(result)


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def _phone(rng: random.Random, lang: str) -> str:
    digits = "".join(str(rng.randrange(10)) for _ in range(8))
    if lang == "en" or rng.random() < 0.2:
        return f"+31 6 {digits[:4]} {digits[4:]}"
    return f"06-{digits}"


def _slug(text: str) -> str:
    table = str.maketrans({"ü": "u", "'": "", " ": ""})
    return text.lower().translate(table)


# -------------------------------------------------------------- the seeding


def _refuse_unless_empty() -> None:
    departed = db.session.scalar(sa.select(sa.func.count(Customer.id)))
    if departed:
        raise DemoError(
            f"This database already holds {departed} departed customers; the demo "
            "only fills an empty database. Point KARN_DATABASE_URL at a new "
            "database (as `make demo` does) and run it there."
        )
    emails = [login[0] for login in DEMO_LOGINS]
    taken = db.session.scalars(sa.select(User.email).where(User.email.in_(emails)))
    taken = sorted(taken)
    if taken:
        raise DemoError(
            "The demo users exist already here (" + ", ".join(taken) + "); the demo "
            "only fills an empty database."
        )


def _make_users() -> dict[Role, list[User]]:
    users: dict[Role, list[User]] = {}
    for email, name, role, language, password in DEMO_LOGINS:
        user, _ = operations.create_user(email, name, role, language, password)
        users.setdefault(role, []).append(user)
    return users


def _customer_rows(
    rng: random.Random, count: int, start: datetime, now: datetime, action: datetime
) -> list[dict[str, Any]]:
    rows = []
    segments = {name: spec[0] for name, spec in SEGMENTS.items()}
    for number, departed in enumerate(_seasonal_days(rng, start, now, count), 1):
        lang = "nl" if rng.random() < 0.7 else "en"
        first, last = (
            (rng.choice(FIRST_NL), rng.choice(LAST_NL))
            if lang == "nl"
            else (rng.choice(FIRST_EN), rng.choice(LAST_EN))
        )
        segment = _pick(rng, segments)
        _share, plans, tenure_median = SEGMENTS[segment]
        plan = _pick(rng, {name: spec[0] for name, spec in plans.items()})
        _p, price, spread = plans[plan]
        monthly = price * math.exp(rng.gauss(0, spread)) if spread else price
        tenure = max(
            1, min(180, round(rng.lognormvariate(math.log(tenure_median), 0.8)))
        )
        lifetime = monthly * tenure * rng.uniform(0.85, 1.1)
        source = _pick(rng, SOURCES[segment])
        reason = _pick(rng, _reason_mix(segment, departed, action))
        stated = comment = None
        if source == Source.STRIPE and rng.random() < 0.6:
            # Stripe's cancellation feedback: mostly what they will also tell us.
            stated = reason if rng.random() < 0.8 else rng.choice(REASONS)
            if rng.random() < 0.3:
                comment = demo_comment(rng, lang, stated, "negative")
        has_email = rng.random() > 0.03
        email = f"{_slug(first)}.{_slug(last)}.{number}@example.com"
        imported = departed + timedelta(minutes=rng.randrange(10, 600))
        rows.append(
            {
                "external_id": f"{EXTERNAL_PREFIX}{number:05d}",
                "email": email if has_email else None,
                "name": f"{first} {last}",
                "phone": _phone(rng, lang) if rng.random() < 0.6 else None,
                "language": Language(lang),
                "departed_at": departed,
                "plan": plan,
                "segment": segment,
                "region": _pick(rng, REGIONS),
                "tenure_months": tenure,
                "monthly_revenue": _money(monthly),
                "lifetime_value": _money(lifetime),
                "source": source,
                "extra": dict(DEMO_MARK),
                "stated_reason": Reason(stated) if stated else None,
                "stated_comment": comment,
                "delivery_failures": 0,
                "unsubscribed_at": None,
                "bounced_at": None,
                "created_at": min(imported, now),
                "updated_at": min(imported, now),
                # Not columns: what the rest of the seed needs to know.
                "_reason": reason,
            }
        )
    return rows


def _insert_customers(rows: list[dict[str, Any]]) -> None:
    columns = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    for start in range(0, len(columns), BATCH):
        db.session.execute(sa.insert(Customer), columns[start : start + BATCH])
    ids: dict[str, int] = {}
    external = [row["external_id"] for row in rows]
    for start in range(0, len(external), BATCH):
        chunk = external[start : start + BATCH]
        ids.update(
            db.session.execute(
                sa.select(Customer.external_id, Customer.id).where(
                    Customer.external_id.in_(chunk)
                )
            ).all()
        )
    for row in rows:
        row["_id"] = ids[row["external_id"]]
    db.session.commit()


def _plan_invitation(
    rng: random.Random, row: dict[str, Any], now: datetime, version_id: int
) -> dict[str, Any] | None:
    """One customer's invitation, its fate, and when they answered (if they did)."""
    if not row["email"]:
        return None
    departed = row["departed_at"]
    scheduled = departed + timedelta(hours=48)
    invitation: dict[str, Any] = {
        "customer_id": row["_id"],
        "survey_id": None,  # set by the caller
        "survey_version_id": None,
        "status": InvitationStatus.SCHEDULED,
        "scheduled_for": scheduled,
        "sent_at": None,
        "reminders_sent": 0,
        "last_reminded_at": None,
        "responded_at": None,
        "expires_at": None,
        "closed_at": None,
        "created_at": row["created_at"],
        "_respond_at": None,
    }
    sent = _business_hours(rng, scheduled + timedelta(minutes=rng.randrange(1, 20)))
    if sent > now:
        return invitation  # the worker sends it when `make demo` runs
    invitation.update(
        status=InvitationStatus.SENT,
        sent_at=sent,
        survey_version_id=version_id,
        expires_at=sent + timedelta(days=LINK_VALID_DAYS),
    )
    reminders = [sent + timedelta(days=d) for d in REMINDER_DAYS]
    if rng.random() < 0.025:
        bounced = sent + timedelta(minutes=rng.randrange(1, 30))
        invitation.update(status=InvitationStatus.BOUNCED, closed_at=bounced)
        row["bounced_at"] = bounced
        row["delivery_failures"] = 1
        return invitation
    rate = {"Particulier": 0.33, "MKB": 0.38, "Enterprise": 0.46}[row["segment"]]
    if rng.random() < rate:
        # Most answer the invitation; the reminders each bring some more.
        stage = rng.choices((0, 1, 2), weights=(0.58, 0.27, 0.15))[0]
        opened = sent if stage == 0 else reminders[stage - 1]
        window = (REMINDER_DAYS[0], REMINDER_DAYS[1] - REMINDER_DAYS[0], 14)[stage]
        delay = min(rng.expovariate(1 / 0.6), window - 0.01)
        respond_at = _business_hours(rng, opened + timedelta(days=delay))
        if respond_at < now - timedelta(minutes=10):
            invitation["_respond_at"] = respond_at
            invitation["reminders_sent"] = stage
            if stage:
                invitation["status"] = InvitationStatus.REMINDED
                invitation["last_reminded_at"] = reminders[stage - 1]
            return invitation
    due = [r for r in reminders if r <= now]
    if rng.random() < 0.02:
        # Unsubscribed from an invitation or a reminder mail.
        after = rng.choice([sent, *due])
        moment = min(after + timedelta(hours=rng.uniform(0.5, 30)), now)
        invitation.update(status=InvitationStatus.UNSUBSCRIBED, closed_at=moment)
        row["unsubscribed_at"] = moment
        return invitation
    invitation["reminders_sent"] = len(due)
    if due:
        invitation.update(status=InvitationStatus.REMINDED, last_reminded_at=due[-1])
    if invitation["expires_at"] <= now:
        invitation.update(
            status=InvitationStatus.EXPIRED, closed_at=invitation["expires_at"]
        )
    return invitation


def _insert_invitations(invitations: list[dict[str, Any]]) -> None:
    columns = [
        {k: v for k, v in inv.items() if not k.startswith("_")} for inv in invitations
    ]
    for start in range(0, len(columns), BATCH):
        db.session.execute(sa.insert(Invitation), columns[start : start + BATCH])
    by_customer = dict(
        db.session.execute(sa.select(Invitation.customer_id, Invitation.id)).all()
    )
    hashes = []
    for inv in invitations:
        inv["_id"] = by_customer[inv["customer_id"]]
        if inv["sent_at"] is not None:
            # The hash of the link's token, as the worker stores it on sending,
            # so the personal links of the demo work.
            inv["_token_hash"] = links.token_hash(links.invitation_token(inv["_id"]))
            hashes.append({"iid": inv["_id"], "th": inv["_token_hash"]})
    update = (
        sa.update(Invitation.__table__)
        .where(Invitation.__table__.c.id == sa.bindparam("iid"))
        .values(token_hash=sa.bindparam("th"))
    )
    for start in range(0, len(hashes), BATCH):
        db.session.execute(update, hashes[start : start + BATCH])
    db.session.commit()


def _mark_unmailable(rows: list[dict[str, Any]]) -> None:
    bounced = [
        {"cid": r["_id"], "at": r["bounced_at"]} for r in rows if r["bounced_at"]
    ]
    if bounced:
        db.session.execute(
            sa.update(Customer.__table__)
            .where(Customer.__table__.c.id == sa.bindparam("cid"))
            .values(
                bounced_at=sa.bindparam("at"),
                delivery_failures=1,
                updated_at=sa.bindparam("at"),
            ),
            bounced,
        )
    unsubscribed = [r for r in rows if r["unsubscribed_at"]]
    if unsubscribed:
        db.session.execute(
            sa.update(Customer.__table__)
            .where(Customer.__table__.c.id == sa.bindparam("cid"))
            .values(unsubscribed_at=sa.bindparam("at"), updated_at=sa.bindparam("at")),
            [{"cid": r["_id"], "at": r["unsubscribed_at"]} for r in unsubscribed],
        )
        db.session.execute(
            sa.insert(Suppression),
            [
                {
                    "email_hash": delivery.email_hash(r["email"]),
                    "email": r["email"],
                    "reason": "unsubscribed",
                    "created_at": r["unsubscribed_at"],
                }
                for r in unsubscribed
            ],
        )
    db.session.commit()


def _answer_form(
    rng: random.Random,
    questions: list[dict],
    row: dict[str, Any],
    lang: str,
    tone: str,
) -> dict[str, Any]:
    """What the respondent posts on the survey page, question by question."""
    reason = row["_reason"]
    base = {"negative": 2, "neutral": 3, "positive": 4}[tone]
    low_item = {"service": "service", "quality": "quality", "price": "value"}
    form: dict[str, Any] = {}
    main_key = None
    for question in questions:
        key, kind = question["key"], question["type"]
        name = definition.field_name(key)
        options = [o["value"] for o in question.get("options") or ()]
        if kind == definition.SINGLE_CHOICE:
            if question.get("reason_question") and main_key is None:
                main_key = key
                form[name] = reason if reason in options else options[-1]
            elif question.get("required"):
                form[name] = rng.choice(options)
        elif kind == definition.MULTIPLE_CHOICE:
            if question.get("reason_question"):
                count = rng.choices((0, 1, 2), weights=(0.5, 0.35, 0.15))[0]
                companions = {"service": "quality", "quality": "service"}
                picked = set(rng.sample(options, count))
                if count and reason in companions and rng.random() < 0.5:
                    picked.add(companions[reason])
                form[name] = sorted(picked - {reason})
            elif question.get("required"):
                form[name] = [rng.choice(options)]
        elif kind == definition.RATING_5:
            items = question.get("items") or []
            for item in items:
                score = base + rng.choice((-1, 0, 0, 1))
                if low_item.get(reason) == item["key"]:
                    score -= rng.choice((1, 1, 2))
                form[definition.field_name(key, item["key"])] = str(
                    max(1, min(5, score))
                )
            if not items:
                form[name] = str(max(1, min(5, base)))
        elif kind == definition.SCALE_10:
            low, high = {"negative": (0, 4), "neutral": (3, 7), "positive": (5, 10)}[
                tone
            ]
            form[name] = str(rng.randint(low, high))
        elif kind == definition.LONG_TEXT:
            if rng.random() < 0.65:
                # Mostly about the main reason; sometimes about something else.
                about = reason if rng.random() < 0.85 else rng.choice(REASONS)
                form[name] = demo_comment(rng, lang, about, tone)
        elif kind == definition.SHORT_TEXT:
            if key == "switched_to" and rng.random() < 0.75:
                form[name] = rng.choice(COMPETITORS)
        elif kind == definition.YES_NO:
            chance = 0.10 + (0.12 if row["segment"] == "Enterprise" else 0)
            chance += 0.06 if tone == "negative" else 0
            form[name] = "yes" if rng.random() < chance else "no"
        elif kind == definition.PHONE_TIME:
            form[definition.field_name(key, "phone")] = row["phone"] or _phone(
                rng, lang
            )
            form[definition.field_name(key, "time")] = rng.choice(CALL_TIMES[lang])
    return form


def _submit_responses(
    rng: random.Random,
    rows_by_id: dict[int, dict[str, Any]],
    invitations: list[dict[str, Any]],
    version_id: int,
) -> int:
    """Answer the survey through Karn's own path, each at its own moment."""
    answering = sorted(
        (inv for inv in invitations if inv["_respond_at"]),
        key=lambda inv: inv["_respond_at"],
    )
    questions = db.session.get(SurveyVersion, version_id).questions
    count = 0
    for inv in answering:
        row = rows_by_id[inv["customer_id"]]
        lang = row["language"].value
        tone = TONES[
            rng.choices(range(3), weights=TONE_MIX.get(row["_reason"], (1, 1, 1)))[0]
        ]
        clock.freeze(inv["_respond_at"])
        form = _answer_form(rng, questions, row, lang, tone)
        clean, errors = definition.validate_answers(questions, form, lang)
        if errors:
            raise DemoError(f"demo answers do not fit the survey: {errors}")
        # The order the page would have shown, from the same seed as the page.
        orders = {
            q["key"]: definition.option_order(q, inv["_token_hash"])
            for q in questions
            if q["type"] in definition.CHOICE_TYPES
        }
        responses.submit_invitation(
            invitation_id=inv["_id"],
            customer_id=row["_id"],
            version_id=version_id,
            questions=questions,
            clean=clean,
            shown_orders=orders,
            lang=lang,
            has_progress=False,
        )
        count += 1
        if count % RESPONSE_BATCH == 0:
            db.session.commit()
    db.session.commit()
    return count


def _tag_note(note: CallNote, lang: str, at: datetime) -> None:
    if note.text:
        for name, value in tags_for(note.text, lang, at).items():
            setattr(note, name, value)


def _work_call(
    rng: random.Random,
    task: CallTask,
    row: dict[str, Any],
    staff: list[User],
    now: datetime,
) -> int:
    """Staff phone the ex-customer: attempts until reached or given up."""
    lang = row["language"].value
    caller = rng.choice(staff)
    age = now - task.created_at
    if age < timedelta(days=4) or (age < timedelta(days=14) and rng.random() < 0.6):
        # The call list of the last fortnight is still being worked through.
        if rng.random() < 0.5:
            task.assigned_to_id = caller.id
        return 0
    task.assigned_to_id = caller.id
    at = task.created_at
    notes = 0
    while True:
        at = _business_hours(rng, at + timedelta(hours=rng.uniform(12, 96)))
        if at > now - timedelta(hours=1):
            return notes  # still on the call list
        outcome = _pick(
            rng,
            {
                CallOutcome.REACHED: 55,
                CallOutcome.NO_ANSWER: 20,
                CallOutcome.VOICEMAIL: 12,
                CallOutcome.WILL_RETURN: 7,
                CallOutcome.DECLINED: 4,
                CallOutcome.WRONG_NUMBER: 2,
            },
        )
        task.attempts += 1
        heard: list[str] = []
        follow_up = None
        if outcome in (CallOutcome.REACHED, CallOutcome.WILL_RETURN):
            reason = row["_reason"]
            heard = [reason]
            if rng.random() < 0.3:
                heard.append(rng.choice([r for r in REASONS if r != reason]))
            bank = CALL_TEXTS[lang]
            text = _fill(rng, rng.choice(bank.get(reason) or bank["other"]), lang)
            if outcome == CallOutcome.WILL_RETURN:
                text += rng.choice(WILL_RETURN_TEXTS[lang])
                follow_up = (at + timedelta(days=rng.randint(7, 21))).date()
        else:
            text = rng.choice(CALL_OUTCOME_TEXTS[lang][outcome])
        note = CallNote(
            task_id=task.id,
            customer_id=task.customer_id,
            author_id=caller.id,
            outcome=outcome,
            text=text,
            language=Language(lang),
            follow_up_on=follow_up,
            created_at=at,
        )
        note.reasons = [CallNoteReason(reason=Reason(r)) for r in heard]
        _tag_note(note, lang, at)
        db.session.add(note)
        notes += 1
        if outcome in (CallOutcome.NO_ANSWER, CallOutcome.VOICEMAIL):
            if task.attempts < 3:
                continue
            task.status, task.closed_at = CallTaskStatus.CLOSED, at
        else:
            task.status, task.closed_at = CallTaskStatus.DONE, at
        if outcome == CallOutcome.WILL_RETURN and rng.random() < 0.7:
            back = follow_up + timedelta(days=rng.randint(0, 10))
            if back < now.date():
                db.session.flush()
                db.session.add(
                    WinBack(
                        customer_id=task.customer_id,
                        returned_on=back,
                        via="call",
                        revenue=row["monthly_revenue"],
                        note_id=note.id,
                        recorded_by_id=caller.id,
                        created_at=datetime(
                            back.year, back.month, back.day, 10, tzinfo=UTC
                        ),
                    )
                )
        return notes


def _calls(
    rng: random.Random,
    rows_by_id: dict[int, dict[str, Any]],
    invitations: list[dict[str, Any]],
    staff: list[User],
    now: datetime,
    start: datetime,
) -> tuple[int, int]:
    """Work the requested call-backs, add a manager's selections and valuable ones."""
    silent = [
        inv
        for inv in invitations
        if inv["_respond_at"] is None
        and inv["status"] in (InvitationStatus.EXPIRED, InvitationStatus.REMINDED)
        and rows_by_id[inv["customer_id"]]["phone"]
    ]
    # Every three months a manager picks a few silent ex-customers to phone,
    # the last time a few days ago.
    moment = now - timedelta(days=3)
    while moment > start + timedelta(days=20):
        window = [
            inv
            for inv in silent
            if moment - timedelta(days=90) <= inv["sent_at"] < moment - DAY * 14
        ]
        for inv in rng.sample(window, min(len(window), 4)):
            row = rows_by_id[inv["customer_id"]]
            db.session.add(
                CallTask(
                    customer_id=row["_id"],
                    source=CallTaskSource.SELECTION,
                    priority=SOURCE_PRIORITY[CallTaskSource.SELECTION],
                    due_at=moment,
                    phone=row["phone"],
                    created_at=moment,
                )
            )
        moment -= timedelta(days=91)
    # Valuable customers who stayed silent after the last reminder.
    recent = [
        inv
        for inv in silent
        if rows_by_id[inv["customer_id"]]["segment"] == "Enterprise"
        and inv["reminders_sent"] == 2
        and inv["sent_at"] >= now - timedelta(days=45)
    ]
    for inv in recent[:6]:
        row = rows_by_id[inv["customer_id"]]
        created = inv["last_reminded_at"] + timedelta(days=rng.randint(3, 7))
        if created < now:
            db.session.add(
                CallTask(
                    customer_id=row["_id"],
                    source=CallTaskSource.HIGH_VALUE,
                    priority=SOURCE_PRIORITY[CallTaskSource.HIGH_VALUE],
                    due_at=created,
                    phone=row["phone"],
                    created_at=created,
                )
            )
    db.session.flush()
    tasks = db.session.scalars(sa.select(CallTask).order_by(CallTask.created_at)).all()
    notes = 0
    for task in tasks:
        notes += _work_call(rng, task, rows_by_id[task.customer_id], staff, now)
    db.session.commit()
    return len(tasks), notes


def _survey_win_backs(
    rng: random.Random,
    rows_by_id: dict[int, dict[str, Any]],
    invitations: list[dict[str, Any]],
    now: datetime,
) -> int:
    """A few respondents come back on their own, reported by the CRM's export;
    with the win-backs after calls this gives the dashboard every channel."""
    taken = set(db.session.scalars(sa.select(WinBack.customer_id)))
    for inv in invitations:
        customer_id = inv["customer_id"]
        if inv["_respond_at"] is None or customer_id in taken or rng.random() > 0.03:
            continue
        back = inv["_respond_at"] + timedelta(days=rng.randint(20, 90))
        if back >= now:
            continue
        taken.add(customer_id)
        db.session.add(
            WinBack(
                customer_id=customer_id,
                returned_on=back.date(),
                via="csv",
                revenue=rows_by_id[customer_id]["monthly_revenue"],
                created_at=back,
            )
        )
    db.session.commit()
    return db.session.scalar(sa.select(sa.func.count(WinBack.id)))


def _months_ago(now: datetime, months: float) -> datetime:
    return now - timedelta(days=round(months * 30.44))


def seed_demo(customers: int = 4000, months: int = 18, seed: int = 7) -> dict:
    """Fill an empty, migrated database with the demo; returns what it made."""
    if customers < 1 or months < 1:
        raise DemoError("The demo needs at least one customer and one month.")
    _refuse_unless_empty()
    rng = random.Random(seed)
    # The caller's clock (a test may have set it) is restored afterwards.
    previous = clock._frozen
    now = clock.now()
    start = _months_ago(now, months)
    action_start = _months_ago(now, min(7, max(1, months // 2)))
    try:
        survey, _created = ensure_default_survey()
        if "demo" not in survey.name.lower():
            survey.name = f"{survey.name} (demo)"
        version = delivery.latest_version(survey.id)
        users = _make_users()
        manager = users[Role.MANAGER][0]
        db.session.add(
            ImprovementAction(
                title=ACTION_TITLE,
                description=ACTION_DESCRIPTION,
                reason=Reason.SERVICE,
                owner_id=manager.id,
                started_on=action_start.astimezone(TZ).date(),
                created_at=action_start - timedelta(days=3),
            )
        )
        db.session.commit()

        rows = _customer_rows(rng, customers, start, now, action_start)
        _insert_customers(rows)
        rows_by_id = {row["_id"]: row for row in rows}
        invitations = []
        for row in rows:
            invitation = _plan_invitation(rng, row, now, version.id)
            if invitation is not None:
                invitation["survey_id"] = survey.id
                invitations.append(invitation)
        _insert_invitations(invitations)
        _mark_unmailable(rows)
        answered = _submit_responses(rng, rows_by_id, invitations, version.id)
        clock.freeze(previous)
        tasks, notes = _calls(
            rng, rows_by_id, invitations, users[Role.STAFF], now, start
        )
        won_back = _survey_win_backs(rng, rows_by_id, invitations, now)
    except BaseException:
        db.session.rollback()
        raise
    finally:
        clock.freeze(previous)
    return {
        "customers": len(rows),
        "invitations": len(invitations),
        "scheduled": sum(
            1 for i in invitations if i["status"] == InvitationStatus.SCHEDULED
        ),
        "responses": answered,
        "unsubscribed": sum(1 for r in rows if r["unsubscribed_at"]),
        "bounced": sum(1 for r in rows if r["bounced_at"]),
        "call_tasks": tasks,
        "call_notes": notes,
        "win_backs": won_back,
        "users": len(DEMO_LOGINS),
        "improvement_actions": 1,
        "action_started_on": action_start.astimezone(TZ).date().isoformat(),
        "survey": survey.name,
    }


# ---------------------------------------------------------------- command

demo_cli = AppGroup("demo", help="A labelled demo data set, for trying Karn out.")


@demo_cli.command("seed")
@click.option("--customers", default=4000, show_default=True, type=int)
@click.option("--months", default=18, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
def seed_command(customers: int, months: int, seed: int) -> None:
    """Fill an EMPTY database with invented departures, answers and calls."""
    began = time.monotonic()
    try:
        made = seed_demo(customers=customers, months=months, seed=seed)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    seconds = time.monotonic() - began
    click.echo(f"Demo data made in {seconds:.1f} s (all invented, marked demo=yes):")
    click.echo(
        f"  {made['customers']} departed customers over {months} months, "
        f"{made['invitations']} invitations ({made['scheduled']} still scheduled), "
        f"{made['responses']} responses"
    )
    click.echo(
        f"  {made['unsubscribed']} unsubscribed, {made['bounced']} bounced, "
        f"{made['call_tasks']} call tasks with {made['call_notes']} call notes"
    )
    click.echo(
        f"  improvement action {ACTION_TITLE!r} since {made['action_started_on']}"
    )
    click.echo("")
    click.echo("  Demo logins (this database only):")
    for email, _name, role, _language, password in DEMO_LOGINS:
        click.echo(f"    {role.value:<8} {email:<22} {password}")
    click.echo("")


def register(app: Flask) -> None:
    app.cli.add_command(demo_cli)
