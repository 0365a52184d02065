"""The demo's invented data: names, regions, segments and plans, the mix of
reasons and tones, and the texts of answers and call notes."""

from karn.enums import CallOutcome, Reason, Source

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
