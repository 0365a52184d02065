"""Improvement actions: the pages, their checks, the audit trail, and the
before/after numbers and verdict against a hand calculation."""

import math
import re
import threading
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from karn import clock, config
from karn.accounts.models import AuditEntry
from karn.actions import effect as actions
from karn.actions.models import ImprovementAction
from karn.analysis import totals
from karn.enums import Reason
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Response, SurveyVersion
from tests.conftest import IsolatedClient, csrf_token
from tests.test_analysis_charts import svg_texts

# Monday 15 June 2026, noon UTC.
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
START = date(2026, 4, 1)

# (first day, respondents, of whom chose service); each answers on a day of
# its own from the first day on, the service ones first. With the action
# starting on 1 April, the 90-day window before runs 1 January - 31 March and
# the one after 1 April - 29 June (here: up to today, 15 June); the 30-day
# windows run 2 - 31 March and 1 - 30 April.
ANSWERS = [
    (date(2025, 12, 29), 3, 3),  # before any window: not counted
    (date(2026, 1, 1), 20, 10),
    (date(2026, 3, 12), 20, 6),  # 12 - 31 March: the day before the start too
    (date(2026, 4, 1), 20, 2),  # from the day of the start on
    (date(2026, 5, 1), 20, 4),
]
# By hand: 90 days: service 10 + 6 = 16 of 40 before, 2 + 4 = 6 of 40 after;
# 30 days: 6 of 20 before, 2 of 20 after.
HAND_90 = ((16, 40), (6, 40))
HAND_30 = ((6, 20), (2, 20))


def p_value(x1, n1, x2, n2):
    """The pooled two-proportion z-test, by hand."""
    p1, p2, pooled = x1 / n1, x2 / n2, (x1 + x2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return math.erfc(abs(z) / math.sqrt(2))


def needed(p1, p2):
    """Fleiss' sample size per group, alpha 0.05 and power 0.8, by hand."""
    z_alpha, z_beta = 1.959964, 0.841621
    mean = (p1 + p2) / 2
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return math.ceil(root**2 / (p1 - p2) ** 2)


def test_the_hand_calculation():
    assert p_value(16, 40, 6, 40) == pytest.approx(0.01229, abs=1e-5)
    assert p_value(6, 20, 2, 20) == pytest.approx(0.1138, abs=1e-4)
    assert needed(0.3, 0.1) == 62


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


@pytest.fixture
def version(db):
    survey, _ = ensure_default_survey()
    db.session.commit()
    return db.session.scalars(
        sa.select(SurveyVersion).where(SurveyVersion.survey_id == survey.id)
    ).one()


@pytest.fixture
def answers(db, version):
    for first, n, service in ANSWERS:
        for i in range(n):
            when = datetime.combine(first + timedelta(days=i), datetime.min.time())
            when = when.replace(hour=9, tzinfo=UTC)
            db.session.add(
                Response(
                    survey_version_id=version.id,
                    language="nl",
                    primary_reason="service" if i < service else "price",
                    started_at=when,
                    submitted_at=when,
                )
            )
    db.session.commit()
    # Written directly, the answers still have to reach the daily totals the
    # dashboard and the actions count from.
    totals.rebuild(db.session.connection())
    db.session.commit()


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager", name="Mona Manager", language="en")
    login(user)
    return user


@pytest.fixture
def action(db, manager):
    made = ImprovementAction(
        title="Callback within a day",
        description="Every complaint gets a call back the next working day.",
        reason=Reason.SERVICE,
        owner_id=manager.id,
        started_on=START,
    )
    db.session.add(made)
    db.session.commit()
    return made


def form_data(owner, **changes):
    data = {
        "title": "Callback within a day",
        "description": "Every complaint gets a call back the next working day.",
        "reason": "service",
        "owner_id": str(owner.id),
        "started_on": "2026-04-01",
        "ended_on": "",
    }
    data.update(changes)
    return data


def audit_entries(db, action_name=None):
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action_name:
        query = query.where(AuditEntry.action == action_name)
    return db.session.scalars(query).all()


def logout(client):
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account")})


def text_of(html: str) -> str:
    """Visible text, tags removed and spaces squeezed."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def text(page) -> str:
    """A page's visible text."""
    return text_of(page.get_data(as_text=True))


# --- The numbers -----------------------------------------------------------------


def test_effect_against_a_hand_count(app, answers, action):
    effect = actions.effect(action, 90)
    assert (effect.before_since, effect.before_until) == (
        date(2026, 1, 1),
        date(2026, 3, 31),
    )
    # The after window would run to 29 June; today is 15 June.
    assert (effect.after_since, effect.after_until) == (START, date(2026, 6, 15))
    assert (effect.before, effect.after) == HAND_90
    assessment = effect.assessment
    assert assessment["kind"] == "fell"
    assert assessment["p_value"] == pytest.approx(p_value(16, 40, 6, 40))
    assert effect.more_needed is None
    assert effect.verdict("en", "Service") == (
        "The share naming “Service” fell from 40% to 15%: a drop this large is "
        "unlikely to be chance (p = 0.012)."
    )
    assert effect.verdict("nl", "Service") == (
        "Het aandeel dat “Service” noemt, daalde van 40% naar 15%: zo'n grote "
        "daling is waarschijnlijk geen toeval (p = 0,012)."
    )

    small = actions.effect(action, 30)
    assert (small.before_since, small.after_until) == (
        date(2026, 3, 2),
        date(2026, 4, 30),
    )
    assert (small.before, small.after) == HAND_30
    assert small.assessment["kind"] == "too_small"
    assert small.assessment["p_value"] == pytest.approx(p_value(6, 20, 2, 20))
    assert small.needed == needed(0.3, 0.1) == 62
    assert small.more_needed == 62 - 20
    assert small.verdict("en", "Service") == (
        "The share naming “Service” went from 30% to 10%. Too few answers yet "
        "to tell: about 42 more per period needed."
    )


def test_an_end_date_closes_the_window_after(app, answers, action):
    action.ended_on = date(2026, 4, 30)
    # Only April counts after the start: 2 of 20.
    assert actions.effect(action, 90).after == (2, 20)
    assert actions.effect(action, 90).after_until == date(2026, 4, 30)


def test_an_action_yet_to_start_measures_nothing_after(app, answers, manager, db):
    later = ImprovementAction(
        title="Next month", reason=Reason.SERVICE, started_on=date(2026, 7, 1)
    )
    effect = actions.effect(later, 90)
    assert not effect.started
    assert effect.after == (0, 0)
    # The window before reaches up to today, not into the future.
    assert effect.before_until == date(2026, 6, 15)
    assert effect.more_needed is None


def test_the_window_defaults_to_the_setting_and_is_checked(app):
    assert actions.configured_window_days() == 90
    app.config["ACTION_WINDOW_DAYS"] = 30
    assert actions.configured_window_days() == 30
    app.config["ACTION_WINDOW_DAYS"] = 0
    with pytest.raises(RuntimeError, match="ACTION_WINDOW_DAYS"):
        actions.configured_window_days()
    assert config.from_environment({"KARN_ACTION_WINDOW_DAYS": "45"}) == {
        "ACTION_WINDOW_DAYS": 45
    }
    for bad in ("0", "-3", "3651", "ninety"):
        with pytest.raises(RuntimeError, match="KARN_ACTION_WINDOW_DAYS"):
            config.from_environment({"KARN_ACTION_WINDOW_DAYS": bad})


# --- Creating and editing ----------------------------------------------------------


def test_a_manager_creates_an_action(client, db, manager, post_form):
    page = client.get("/actions/new?reason=price")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<option selected value="price">' in html
    response = post_form("/actions/new", form_data(manager))
    assert response.status_code == 302
    action = db.session.scalars(sa.select(ImprovementAction)).one()
    assert response.location == f"/actions/{action.id}"
    assert (action.title, action.reason, action.owner_id) == (
        "Callback within a day",
        Reason.SERVICE,
        manager.id,
    )
    assert (action.started_on, action.ended_on) == (START, None)

    (entry,) = audit_entries(db, "improvement_action.create")
    assert entry.user_id == manager.id
    assert (entry.target_type, entry.target_id) == (
        "improvement_actions",
        str(action.id),
    )
    assert entry.details == {
        "title": "Callback within a day",
        "description": "Every complaint gets a call back the next working day.",
        "reason": "service",
        "owner_id": manager.id,
        "started_on": "2026-04-01",
    }
    shown = text(client.get(response.location))
    assert "Improvement action saved." in shown
    assert "Mona Manager: created the action" in shown


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "   "}, "title", "Give the action a title."),
        ({"title": "x" * 201}, "title", "Keep the title to 200 characters."),
        ({"reason": "weather"}, "reason", "Choose a reason from the list."),
        ({"reason": ""}, "reason", "Choose a reason from the list."),
        ({"owner_id": "999"}, "owner_id", "Choose an owner from the list."),
        ({"owner_id": "abc"}, "owner_id", "Choose an owner from the list."),
        ({"started_on": ""}, "started_on", "Give the date the action starts."),
        ({"started_on": "31-02-2026"}, "started_on", "Not a valid date value."),
        (
            {"started_on": "0202-04-01"},
            "started_on",
            "Give a date between 1 Jan 1976 and 31 Dec 2076.",
        ),
        (
            {"ended_on": "9999-12-31"},
            "ended_on",
            "Give a date between 1 Jan 1976 and 31 Dec 2076.",
        ),
        (
            {"ended_on": "2026-03-31"},
            "ended_on",
            "The end date lies before the start date.",
        ),
    ],
)
def test_the_form_says_what_is_wrong_beside_the_field(
    changes, field, message, client, db, manager, post_form
):
    response = post_form("/actions/new", form_data(manager, **changes))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert error, html
    assert error.group(1) == message
    tag = re.search(rf'<(?:input|select|textarea)[^>]* id="{field}"[^>]*>', html)
    assert 'aria-invalid="true"' in tag.group(0)
    assert db.session.scalar(sa.select(sa.func.count(ImprovementAction.id))) == 0
    assert audit_entries(db, "improvement_action.create") == []


def test_only_active_managers_and_admins_can_own_an_action(
    client, db, manager, create_user, post_form
):
    admin = create_user("admin", name="Ada Admin")
    staff = create_user("staff", name="Sam Staff")
    gone = create_user("manager", name="Gus Gone", active=False)
    html = client.get("/actions/new").get_data(as_text=True)
    assert "Ada Admin" in html and "Mona Manager" in html
    assert "Sam Staff" not in html and "Gus Gone" not in html
    for user in (staff, gone):
        response = post_form("/actions/new", form_data(manager, owner_id=user.id))
        assert "Choose an owner from the list." in response.get_data(as_text=True)
    response = post_form("/actions/new", form_data(manager, owner_id=admin.id))
    assert response.status_code == 302


def test_a_double_submit_makes_one_action(client, db, manager, post_form):
    first = post_form("/actions/new", form_data(manager))
    second = post_form("/actions/new", form_data(manager))
    assert first.status_code == second.status_code == 302
    assert first.location == second.location
    assert db.session.scalar(sa.select(sa.func.count(ImprovementAction.id))) == 1
    assert "This action was already saved." in text(client.get(second.location))
    assert len(audit_entries(db, "improvement_action.create")) == 1

    # Another title, or the same a minute later, is a new action.
    post_form("/actions/new", form_data(manager, title="Callback within an hour"))
    clock.freeze(NOW + timedelta(seconds=61))
    post_form("/actions/new", form_data(manager))
    assert db.session.scalar(sa.select(sa.func.count(ImprovementAction.id))) == 3


def test_two_submits_at_once_make_one_action(app, client, db, manager, post_form):
    """A double click sends the second POST before the first is answered."""
    data = {**form_data(manager), "csrf_token": csrf_token(client, "/actions/new")}
    cookie = client.get_cookie("session")
    clients = []
    for _ in range(2):
        other = IsolatedClient(app, app.response_class, use_cookies=True)
        other.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
        clients.append(other)
    barrier = threading.Barrier(len(clients))
    results = []

    def submit(each):
        barrier.wait()
        with app.app_context():
            results.append(each.post("/actions/new", data=data).status_code)

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == [302, 302]
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(ImprovementAction.id))) == 1


def test_editing_sets_the_end_date_and_logs_what_changed(
    client, db, manager, action, create_user, login, post_form
):
    other = create_user("admin", name="Ada Admin")
    logout(client)
    login(other)
    html = client.get(f"/actions/{action.id}/edit").get_data(as_text=True)
    assert 'value="Callback within a day"' in html
    assert 'value="2026-04-01"' in html

    response = post_form(
        f"/actions/{action.id}/edit",
        form_data(
            manager,
            title="Callback within one working day",
            owner_id=other.id,
            ended_on="2026-05-31",
        ),
    )
    assert response.status_code == 302
    assert response.location == f"/actions/{action.id}"
    db.session.refresh(action)
    assert action.title == "Callback within one working day"
    assert action.ended_on == date(2026, 5, 31)
    assert action.owner_id == other.id

    (entry,) = audit_entries(db, "improvement_action.update")
    assert entry.user_id == other.id
    assert entry.target_id == str(action.id)
    assert entry.details == {
        "changes": {
            "title": ["Callback within a day", "Callback within one working day"],
            "owner_id": [manager.id, other.id],
            "ended_on": [None, "2026-05-31"],
        }
    }
    shown = text(client.get(f"/actions/{action.id}"))
    assert "Changes saved." in shown
    assert "Title: Callback within a day → Callback within one working day" in shown
    assert "Owner: Mona Manager → Ada Admin" in shown
    assert "End date: — → 31 May 2026" in shown

    # The same form again changes nothing and logs nothing.
    again = post_form(
        f"/actions/{action.id}/edit",
        form_data(
            manager,
            title="Callback within one working day",
            owner_id=other.id,
            ended_on="2026-05-31",
        ),
    )
    assert again.status_code == 302
    assert len(audit_entries(db, "improvement_action.update")) == 1
    assert "Nothing changed." in text(client.get(again.location))


def test_an_edit_is_checked_like_a_new_action(client, db, manager, action, post_form):
    response = post_form(
        f"/actions/{action.id}/edit", form_data(manager, ended_on="2026-03-01")
    )
    assert response.status_code == 200
    assert "The end date lies before the start date." in response.get_data(as_text=True)
    db.session.refresh(action)
    assert action.ended_on is None
    assert audit_entries(db, "improvement_action.update") == []


def test_a_former_owner_stays_selectable_when_editing(
    client, db, manager, action, create_user, post_form
):
    left = create_user("manager", name="Lena Left")
    action.owner_id = left.id
    left.active = False
    db.session.commit()
    html = client.get(f"/actions/{action.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="\d+">Lena Left</option>', html)
    response = post_form(
        f"/actions/{action.id}/edit",
        form_data(left, ended_on="2026-06-01"),
    )
    assert response.status_code == 302


def test_unknown_actions_are_not_found(client, manager):
    assert client.get("/actions/999").status_code == 404
    assert client.get("/actions/999/edit").status_code == 404


# --- The pages ------------------------------------------------------------------------


def test_the_list_shows_running_actions_first_with_their_effect(
    client, db, manager, answers, action
):
    db.session.add_all(
        [
            ImprovementAction(
                title="Old price test",
                reason=Reason.PRICE,
                owner_id=manager.id,
                started_on=date(2026, 2, 1),
                ended_on=date(2026, 2, 28),
            ),
            ImprovementAction(
                title="Runs until July",
                reason=Reason.PRICE,
                started_on=date(2026, 5, 1),
                ended_on=date(2026, 7, 31),
            ),
        ]
    )
    db.session.commit()
    html = client.get("/actions/").get_data(as_text=True)
    running, ended = html.split("<h2>Ended</h2>", 1)
    running, ended = text_of(running), text_of(ended)
    assert running.index("Runs until July") < running.index("Callback within a day")
    assert "Old price test" in ended and "Old price test" not in running
    # The service action, by hand.
    assert "1 Jan 2026 – 31 Mar 2026 16 40 40%" in running
    assert "1 Apr 2026 – 15 Jun 2026 6 40 15%" in running
    assert (
        "The share naming “Service” fell from 40% to 15%: a drop this large is "
        "unlikely to be chance (p = 0.012)." in running
    )
    assert "Mona Manager" in running


def test_the_window_parameter(client, manager, answers, action):
    shown = text(client.get("/actions/?window=30"))
    assert "2 Mar 2026 – 31 Mar 2026 6 20 30%" in shown
    assert "1 Apr 2026 – 30 Apr 2026 2 20 10%" in shown
    # Said once, as a manager would: how many more answers a verdict needs.
    assert (
        "The share naming “Service” went from 30% to 10%. Too few answers yet "
        "to tell: about 42 more per period needed." in shown
    )
    assert "effect size" not in shown and "n too small" not in shown
    # The window is kept on the way to the action's page.
    html = client.get("/actions/?window=30").get_data(as_text=True)
    assert f'href="/actions/{action.id}?window=30"' in html
    detail = text(client.get(f"/actions/{action.id}?window=30"))
    assert "2 Mar 2026 – 31 Mar 2026 6 20 30%" in detail

    for bad in ("0", "abc", "99999"):
        shown = text(client.get(f"/actions/?window={bad}"))
        assert "The window must be a whole number of days from 1 to 3,650" in shown
        assert "1 Jan 2026 – 31 Mar 2026 16 40 40%" in shown


@pytest.mark.parametrize("app_settings", [{"ACTION_WINDOW_DAYS": 30}])
def test_the_window_setting(client, manager, answers, action):
    shown = text(client.get(f"/actions/{action.id}"))
    assert "2 Mar 2026 – 31 Mar 2026 6 20 30%" in shown
    assert "Too few answers yet to tell: about 42 more per period needed." in shown


def test_the_action_page_in_dutch(client, manager, answers, action):
    shown = text(client.get(f"/actions/{action.id}?lang=nl"))
    assert (
        "Het aandeel dat “Service” noemt, daalde van 40% naar 15%: zo'n grote "
        "daling is waarschijnlijk geen toeval (p = 0,012)." in shown
    )
    shown = text(client.get(f"/actions/{action.id}?window=30&lang=nl"))
    assert (
        "Nog te weinig antwoorden om dat te beoordelen: ongeveer 42 meer per "
        "periode nodig." in shown
    )
    assert "effectgrootte" not in shown and "n te klein" not in shown


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_the_pages_speak_one_language(
    lang, client, manager, answers, action, post_form
):
    from markupsafe import escape

    from tests.test_app_i18n import _distinctive_pairs

    post_form(f"/actions/{action.id}/edit", form_data(manager, ended_on="2026-06-10"))
    client.get(f"/actions/{action.id}")  # shows the flash, in English
    for url in (
        "/actions/",
        f"/actions/{action.id}",
        f"/actions/{action.id}?window=30",
        f"/actions/{action.id}/edit",
        "/actions/?window=abc",
    ):
        sep = "&" if "?" in url else "?"
        html = client.get(f"{url}{sep}lang={lang}").get_data(as_text=True)
        lines = [line.strip() for line in re.sub(r"<[^>]*>", "\n", html).splitlines()]
        for english, dutch in _distinctive_pairs():
            wrong = str(escape(english if lang == "nl" else dutch))
            assert not any(
                wrong == line or (" " in wrong and wrong in line) for line in lines
            ), f"{url} in {lang} shows {wrong!r}"


def test_an_action_yet_to_start_says_so(client, db, manager, answers):
    later = ImprovementAction(
        title="Next month", reason=Reason.SERVICE, started_on=date(2026, 7, 1)
    )
    db.session.add(later)
    db.session.commit()
    shown = text(client.get(f"/actions/{later.id}"))
    assert "Starts on 1 Jul 2026: there is nothing to measure yet." in shown
    assert "not started yet" in shown


def test_the_action_page_shows_its_p_chart_with_the_action_marked(
    client, manager, answers, action
):
    html = client.get(f"/actions/{action.id}").get_data(as_text=True)
    match = re.search(r'<img src="(/analysis/chart/pchart\.svg\?[^"]+)"', html)
    assert match, html
    url = match.group(1).replace("&amp;", "&")
    assert "reason=service" in url
    assert "since=2026-01-01" in url and "until=2026-06-15" in url
    chart = client.get(url)
    assert chart.status_code == 200
    assert "Callback within a day" in " ".join(svg_texts(chart.data))


def test_the_trend_charts_mark_actions(client, db, manager, answers, action):
    db.session.add_all(
        [
            # June has no answers yet: the chart still reaches it.
            ImprovementAction(
                title="Price freeze", reason=Reason.PRICE, started_on=date(2026, 6, 1)
            ),
            # Not started yet: not on the charts.
            ImprovementAction(
                title="Next month", reason=Reason.SERVICE, started_on=date(2026, 7, 1)
            ),
        ]
    )
    db.session.commit()
    trend = " ".join(svg_texts(client.get("/analysis/chart/trend.svg").data))
    assert "Callback within a day" in trend and "Price freeze" in trend
    assert "Next month" not in trend
    service = " ".join(
        svg_texts(client.get("/analysis/chart/pchart.svg?reason=service").data)
    )
    assert "Callback within a day" in service and "Price freeze" not in service
    price = " ".join(
        svg_texts(client.get("/analysis/chart/pchart.svg?reason=price").data)
    )
    assert "Price freeze" in price and "Callback within a day" not in price
    # Outside the filtered period: left out.
    filtered = client.get("/analysis/chart/trend.svg?since=2026-05-01").data
    assert "Callback within a day" not in " ".join(svg_texts(filtered))

    page = client.get("/analysis/trends").get_data(as_text=True)
    assert f'<a href="/actions/{action.id}">Callback within a day</a>' in page
    assert 'href="/actions/"' in page
    assert 'href="/actions/new?reason=service"' in page


def test_a_renamed_action_is_redrawn(client, manager, answers, action, post_form):
    before = " ".join(svg_texts(client.get("/analysis/chart/trend.svg").data))
    assert "Callback within a day" in before
    post_form(
        f"/actions/{action.id}/edit", form_data(manager, title="Same-day callback")
    )
    after = " ".join(svg_texts(client.get("/analysis/chart/trend.svg").data))
    assert "Same-day callback" in after and "Callback within a day" not in after


def test_the_nav_links_actions_for_managers_only(client, create_user, login, manager):
    assert 'href="/actions/"' in client.get("/overview").get_data(as_text=True)
    logout(client)
    login(create_user("staff"))
    assert 'href="/actions/"' not in client.get("/overview").get_data(as_text=True)


def test_staff_are_refused(client, db, create_user, login, action):
    staff = create_user("staff", email="staff@example.com")
    logout(client)
    login(staff)
    for url in ("/actions/", "/actions/new", f"/actions/{action.id}"):
        assert client.get(url).status_code == 403, url
    assert client.get(f"/actions/{action.id}/edit").status_code == 403
    token = csrf_token(client, "/account")
    for url in ("/actions/new", f"/actions/{action.id}/edit"):
        response = client.post(url, data={**form_data(staff), "csrf_token": token})
        assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(ImprovementAction.id))) == 1
    assert audit_entries(db, "improvement_action.create") == []


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/actions/")
    assert response.status_code == 302 and response.location.startswith("/login")
