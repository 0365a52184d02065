"""In a real browser: a staff member works through their call list."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from karn import clock
from karn.callbacks.models import CallNote, CallTask, WinBack
from karn.enums import CallOutcome, CallTaskSource, CallTaskStatus
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_staff_logs_a_call_reschedules_a_no_answer_and_marks_a_win_back(
    page, live_server, db, create_user, create_customer
):
    staff = create_user("staff", email="sanne@example.com", name="Sanne")
    colleague = create_user("staff", name="Piet")
    talker = create_customer(name="Marieke Jansen", phone="+31612345678")
    silent = create_customer(name="Kees Stil", phone="+31687654321")
    other = create_customer(name="Van Iemand Anders", phone="+31600000000")
    now = clock.now()
    for customer, source, owner in (
        (talker, CallTaskSource.REQUESTED, staff),
        (silent, CallTaskSource.HIGH_VALUE, staff),
        (other, CallTaskSource.REQUESTED, colleague),
    ):
        db.session.add(
            CallTask(
                customer=customer,
                source=source,
                priority=10 if source == CallTaskSource.REQUESTED else 20,
                phone=customer.phone,
                preferred_time="na 17:00" if customer is talker else None,
                assigned_to_id=owner.id,
                due_at=now - timedelta(hours=1),
            )
        )
    db.session.commit()

    page.goto(live_server + "/login")
    page.get_by_label("Email address").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Calls").click()
    page.wait_for_url(re.compile(r"/calls/$"))
    rows = page.locator("tbody tr td:first-child").all_inner_texts()
    # My own tasks first (requested before high value), then a colleague's.
    assert rows == ["Marieke Jansen", "Kees Stil", "Van Iemand Anders"]
    assert page.get_by_role("link", name="+31612345678").get_attribute("href") == (
        "tel:+31612345678"
    )

    page.get_by_role("link", name="Marieke Jansen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Call Marieke Jansen")
    assert "na 17:00" in page.content()
    page.get_by_label("Reached").check()
    page.get_by_label("Service", exact=True).check()
    page.get_by_label("Price", exact=True).check()
    page.get_by_label("Notes").fill(
        "Niemand belde terug na haar klacht; de nieuwe prijs was de druppel."
    )
    page.get_by_role("button", name="Save call").click()
    page.wait_for_url(re.compile(r"/calls/$"))
    assert "Call logged. The task is done." in page.locator(".flash").inner_text()
    assert "Marieke Jansen" not in page.locator("tbody").inner_text()

    page.get_by_role("link", name="Kees Stil").click()
    page.get_by_label("No answer").check()
    retry = (clock.now() + timedelta(days=2)).date()
    page.get_by_label("If nobody answered: call again on").fill(retry.isoformat())
    page.get_by_role("button", name="Save call").click()
    page.wait_for_url(re.compile(r"/calls/$"))
    assert "The task comes back on" in page.locator(".flash").inner_text()
    assert "Kees Stil" in page.locator("tbody").inner_text()

    # The first customer said she would come back: mark the win-back.
    page.goto(live_server + f"/customers/{talker.id}")
    page.get_by_label("Monthly revenue regained").fill("49,95")
    page.get_by_role("button", name="Mark as won back").click()
    expect(page.locator(".flash")).to_contain_text("Marked as won back.")

    db.session.expire_all()
    note = db.session.scalars(
        sa.select(CallNote).where(CallNote.customer_id == talker.id)
    ).one()
    assert note.outcome == CallOutcome.REACHED
    assert sorted(r.reason.value for r in note.reasons) == ["price", "service"]
    assert note.sentiment is not None
    task = db.session.scalars(
        sa.select(CallTask).where(CallTask.customer_id == silent.id)
    ).one()
    assert task.status == CallTaskStatus.OPEN and task.attempts == 1
    assert task.due_at.date() == retry
    win = db.session.scalars(sa.select(WinBack)).one()
    assert win.customer_id == talker.id and str(win.revenue) == "49.95"
    assert win.recorded_by_id == staff.id
