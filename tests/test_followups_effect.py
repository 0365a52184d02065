"""The effect of follow-ups and campaigns: win-backs of those mailed against
those held back, on the page in both languages, in the digest and over the API.

The groups are built with known counts, so the answers can be checked by hand:
1,000 mailed of whom 60 came back against 250 held back of whom 5 gives 6.0%
against 2.0%, a difference of 4.0 percentage points (z = 2.55, p = 0.011).
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from karn import clock
from karn.callbacks.models import WinBack
from karn.customers.models import Customer
from karn.enums import ExperimentGroup, ExperimentKind
from karn.experiments.models import Assignment, Experiment
from karn.followups import effect

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
DRAWN = NOW - timedelta(days=120)


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def build(
    db,
    mailed: tuple[int, int],
    held_back: tuple[int, int],
    *,
    kind=ExperimentKind.CAMPAIGN,
    title="Faster support",
    after_days: int = 10,
    revenue: Decimal = Decimal("20"),
    drawn: datetime = DRAWN,
) -> Experiment:
    """An experiment with (people, win-backs within the window) per group."""
    experiment = Experiment(
        kind=kind,
        title=title,
        horizon_days=90,
        treatment_share=0.8,
        started_at=drawn,
        created_at=drawn,
    )
    db.session.add(experiment)
    db.session.flush()
    first = db.session.scalar(sa.select(sa.func.count()).select_from(Customer))
    people, assignments, returns = [], [], []
    n = first
    for group, (size, won) in (
        (ExperimentGroup.TREATED, mailed),
        (ExperimentGroup.HELD_BACK, held_back),
    ):
        for i in range(size):
            n += 1
            people.append(
                {
                    "external_id": f"E{experiment.id}-{n}",
                    "email": f"p{experiment.id}-{n}@example.nl",
                    "departed_at": drawn - timedelta(days=30),
                    "source": "manual",
                    "language": "nl",
                }
            )
            assignments.append((n, group, i < won))
    db.session.execute(sa.insert(Customer), people)
    ids = db.session.scalars(
        sa.select(Customer.id).where(Customer.external_id.like(f"E{experiment.id}-%"))
    ).all()
    by_external = dict(
        db.session.execute(
            sa.select(Customer.external_id, Customer.id).where(Customer.id.in_(ids))
        ).all()
    )
    rows = []
    for n, group, won in assignments:
        cid = by_external[f"E{experiment.id}-{n}"]
        rows.append(
            {
                "experiment_id": experiment.id,
                "customer_id": cid,
                "group": group,
                "draw": 0.1 if group == ExperimentGroup.TREATED else 0.9,
                "assigned_at": drawn,
                "ends_at": drawn + timedelta(days=90),
            }
        )
        if won:
            returns.append(
                {
                    "customer_id": cid,
                    "returned_on": drawn.date() + timedelta(days=after_days),
                    "via": "manual",
                    "revenue": revenue,
                }
            )
    db.session.execute(sa.insert(Assignment), rows)
    if returns:
        db.session.execute(sa.insert(WinBack), returns)
    db.session.commit()
    return experiment


def measure(experiment: Experiment, lang: str = "en") -> effect.Result:
    with force_locale(lang):
        return effect.measure(experiment, lang)


def test_the_textbook_answer(app, db):
    experiment = build(db, (1000, 60), (250, 5))
    result = measure(experiment)
    c = result.comparison
    assert (c.treated, c.held_back) == ((60, 1000), (5, 250))
    assert c.treated_rate == pytest.approx(0.06)
    assert c.held_back_rate == pytest.approx(0.02)
    assert c.difference == pytest.approx(0.04)
    assert c.method == "z"
    assert c.p_value == pytest.approx(0.0108, abs=0.0005)
    assert c.kind == "better" and c.significant
    assert c.ci_low > 0 and c.ci_high > 0.04
    assert result.treated.revenue == Decimal("1200")
    assert result.held_back.revenue == Decimal("100")
    assert result.headline.startswith("The mail works: 4.0 percentage points more")


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        (
            "en",
            [
                "The mail works: 4.0 percentage points more people came back",
                "Of the 1,000 people mailed, 6.0% came back within 90 days; "
                "of the 250 held back, 2.0%.",
                "Difference (mailed minus held back): +4.0 percentage points",
                "two-proportion test, p = 0.011",
                "€1,200.00",
            ],
        ),
        (
            "nl",
            [
                "De mail werkt: 4,0 procentpunt meer mensen kwamen terug",
                "Van de 1.000 gemailde mensen kwamen er binnen 90 dagen 6,0% "
                "terug; van de 250 achtergehouden 2,0%.",
                "Verschil (gemaild min achtergehouden): +4,0 procentpunt",
                "toets van twee proporties, p = 0,011",
                "€\xa01.200,00",
            ],
        ),
    ],
)
def test_the_page_in_both_languages(app, db, client, create_user, login, lang, words):
    experiment = build(db, (1000, 60), (250, 5))
    login(create_user("manager", language=lang))
    page = client.get(f"/effect/{experiment.id}?lang={lang}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for phrase in words:
        assert phrase in text
    listing = client.get("/effect").get_data(as_text=True)
    assert words[0] in listing
    assert "Faster support" in listing


def test_the_api_gives_the_same_answer(app, db, client, create_user):
    from karn.accounts.operations import create_api_key

    experiment = build(db, (1000, 60), (250, 5))
    _key, secret = create_api_key("bi", created_by=create_user("admin"))
    db.session.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    body = client.get("/api/v1/effect?lang=nl", headers=headers).json
    (found,) = body["experiments"]
    assert found["id"] == experiment.id
    assert found["kind"] == "campaign"
    assert found["mailed"] == {
        "customers": 1000,
        "won_back": 60,
        "rate": 0.06,
        "revenue_regained": 1200.0,
    }
    assert found["held_back"]["won_back"] == 5
    assert found["held_back"]["rate"] == 0.02
    assert found["difference"] == pytest.approx(0.04)
    assert found["verdict"] == "better" and found["significant"] is True
    assert found["test"] == "z" and found["p_value"] < 0.05
    assert found["headline"].startswith("De mail werkt: 4,0 procentpunt")
    assert client.get("/api/v1/effect").status_code == 401
    assert client.get("/api/v1/effect?lang=de", headers=headers).status_code == 400
    doc = client.get("/api/v1/openapi.json").json
    assert "getEffect" == doc["paths"]["/effect"]["get"]["operationId"]


def test_fisher_decides_when_an_expected_count_is_small(app, db):
    # 5 of 40 came back; 10 held back expect 1.25 of them: Fisher's test.
    experiment = build(db, (30, 5), (10, 0))
    result = measure(experiment)
    assert result.comparison.method == "fisher"
    from scipy.stats import fisher_exact

    expected = fisher_exact([[5, 25], [0, 10]]).pvalue
    assert result.comparison.p_value == pytest.approx(expected)
    assert "Fisher's exact test (small groups)" in " ".join(result.lines)


def test_win_backs_outside_the_window_do_not_count(app, db):
    late = build(db, (20, 4), (5, 1), after_days=95, title="late")
    early = build(db, (20, 4), (5, 1), after_days=-3, title="early")
    inside = build(db, (20, 4), (5, 1), after_days=89, title="inside")
    assert effect.figures(late)[ExperimentGroup.TREATED].won_back == 0
    assert effect.figures(late)[ExperimentGroup.HELD_BACK].won_back == 0
    assert effect.figures(early)[ExperimentGroup.TREATED].won_back == 0
    assert effect.figures(inside)[ExperimentGroup.TREATED].won_back == 4
    assert effect.figures(inside)[ExperimentGroup.HELD_BACK].won_back == 1


def test_too_few_people_says_how_many_are_needed(app, db, client, create_user, login):
    experiment = build(db, (40, 3), (10, 0), kind=ExperimentKind.FOLLOW_UP)
    result = measure(experiment)
    c = result.comparison
    assert c.kind == "too_small" and c.needed > 40
    assert result.headline.startswith(
        f"Too few people yet to tell: about {c.needed:,} per group needed"
    )
    login(create_user("manager", language="nl"))
    text = client.get(f"/effect/{experiment.id}?lang=nl").get_data(as_text=True)
    assert "Nog te weinig mensen om iets te zeggen: ongeveer" in text
    assert "Follow-up" in text


def test_a_running_experiment_says_it_may_change(app, db):
    experiment = build(db, (100, 5), (25, 1), drawn=NOW - timedelta(days=10))
    result = measure(experiment)
    assert not result.final
    assert "the figures may still change" in result.lines[-1]


def test_keep_calls_are_not_on_the_effect_page(app, db, client, create_user, login):
    keep = build(db, (10, 1), (3, 0), kind=ExperimentKind.KEEP_CALL)
    login(create_user("manager"))
    assert client.get(f"/effect/{keep.id}").status_code == 404
    assert "Faster support" not in client.get("/effect").get_data(as_text=True)


def test_the_digest_names_each_running_follow_up_and_campaign(app, db):
    from karn.digest import content

    build(db, (1000, 60), (250, 5), drawn=datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    digest = content.build(date(2026, 5, 1), date(2026, 5, 31), "en")
    (line,) = digest.win_back_mails
    assert line.title == "Faster support" and line.kind_label == "Campaign"
    assert line.headline.startswith("The mail works: 4.0 percentage points")
    dutch = content.build(date(2026, 5, 1), date(2026, 5, 31), "nl")
    assert dutch.win_back_mails[0].headline.startswith("De mail werkt: 4,0")
    assert dutch.headings["win_back_mails"] != digest.headings["win_back_mails"]
    # Long over: no longer in the digest of a later period.
    later = content.build(date(2026, 12, 1), date(2026, 12, 31), "en")
    assert later.win_back_mails == []


def test_the_digest_mail_and_page_show_the_section(app, db, client, create_user, login):
    from karn.digest import mailing
    from karn.periods import Period

    build(db, (1000, 60), (250, 5), drawn=datetime(2026, 5, 4, 9, 0, tzinfo=UTC))
    may = Period.parse("2026-05")
    for lang, heading, verdict in (
        ("en", "FOLLOW-UPS AND CAMPAIGNS AGAINST", "The mail works: 4.0"),
        ("nl", "FOLLOW-UPS EN CAMPAGNES TEGEN", "De mail werkt: 4,0"),
    ):
        mail = mailing.render(may, lang)
        assert heading in mail["body_text"] and verdict in mail["body_text"]
        assert verdict in mail["body_html"]
    login(create_user("manager"))
    page = client.get("/digest?period=2026-05&lang=en").get_data(as_text=True)
    assert "Follow-ups and campaigns against their control groups" in page
    assert "The mail works: 4.0 percentage points" in page
