"""In a real browser at 390 px: the customer list and the audit log fit the
phone (each row a card, every field labelled) in Dutch and English; and the
notice of the default survey's new edition can be put away."""

import pytest

from tests.conftest import PASSWORD, resize

pytestmark = pytest.mark.browser

PHONE = 390


def sign_in(browser, live_server, user, width, lang, javascript=True):
    context = browser.new_context(
        viewport={"width": width, "height": 900}, java_script_enabled=javascript
    )
    page = context.new_page()
    page.goto(f"{live_server}/login?lang={lang}")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login" not in url)
    return context, page


# What overflows sideways: the page itself, a table in its scrolling box, or
# anything in the content sticking out past the right edge of the screen.
OVERFLOW = """() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  if (document.documentElement.scrollWidth > vw) out.push('page');
  for (const w of document.querySelectorAll('.table-wrap'))
    if (w.scrollWidth > w.clientWidth + 1) out.push('table ' + w.scrollWidth);
  // Skipped: what is only there for screen readers (a clipped box).
  const hidden = (el) => el.closest('.visually-hidden') ||
    (el.closest('thead') && el.closest('thead').getBoundingClientRect().width <= 1);
  for (const el of document.querySelectorAll('main *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > vw + 1 && !hidden(el))
      out.push(el.tagName + ' ' + Math.round(r.right));
  }
  return out.slice(0, 5);
}"""


def long_customers(create_customer):
    create_customer(
        name="Anna-Maria van den Heuvel-Vermeulen",
        email="anna-maria.vandenheuvel-vermeulen@zorgverzekeraar-voorbeeld.example",
        external_id="KLANT-2026-000123456",
        segment="Zakelijk MKB groot",
        plan="Onbeperkt bellen en internet",
    )
    create_customer(
        external_id="C00002", name="Piet", email="piet@example.com", segment=None
    )


@pytest.mark.parametrize(
    ("lang", "heading", "label"),
    [("nl", "Klanten", "Klantnummer"), ("en", "Customers", "Customer number")],
)
def test_the_customer_list_fits_a_phone(
    browser, live_server, create_user, create_customer, lang, heading, label
):
    long_customers(create_customer)
    manager = create_user("manager", language=lang)
    context, page = sign_in(browser, live_server, manager, PHONE, lang)
    page.goto(f"{live_server}/customers/?lang={lang}")
    assert page.get_by_role("heading", level=1).inner_text() == heading
    assert page.evaluate(OVERFLOW) == []
    row = page.locator("table.customer-list tbody tr", has_text="Anna-Maria")
    # Every field is still there, with its label beside it.
    text = row.inner_text()
    assert (
        "anna-maria.vandenheuvel-vermeulen@zorgverzekeraar-voorbeeld.example"
        in text.replace("\n", "")
    )
    assert "KLANT-2026-000123456" in text
    assert row.locator(f"td[data-label='{label}']").is_visible()
    # The name heads the card, the fields stand below it, not beside it.
    name_box = row.locator("th").bounding_box()
    mail_box = row.locator("td").first.bounding_box()
    assert mail_box["y"] >= name_box["y"] + name_box["height"] - 1
    # At a desktop width it is a table again, one row per customer.
    resize(page, 1366, 900)
    assert page.locator("table.customer-list thead").is_visible()
    # All eight columns fit a laptop too, Dutch headings included.
    assert page.evaluate(OVERFLOW) == []
    assert row.locator("th").bounding_box()["y"] == pytest.approx(
        row.locator("td").first.bounding_box()["y"], abs=2
    )
    context.close()


@pytest.mark.parametrize(
    ("lang", "heading", "details"),
    [("nl", "Auditlog", "Details"), ("en", "Audit log", "Details")],
)
def test_the_audit_log_fits_a_phone(
    browser, live_server, create_user, create_customer, db, lang, heading, details
):
    from karn.accounts import audit

    admin = create_user("admin", language=lang)
    customer = create_customer(
        email="anna-maria.vandenheuvel-vermeulen@zorgverzekeraar-voorbeeld.example"
    )
    audit.record(
        "customer.update",
        customer,
        user=admin,
        changed=["email", "name", "segment", "plan", "monthly_revenue", "departed_at"],
        via="manual",
    )
    db.session.commit()
    context, page = sign_in(browser, live_server, admin, PHONE, lang)
    page.goto(f"{live_server}/admin/audit?lang={lang}")
    assert page.get_by_role("heading", level=1).inner_text() == heading
    assert page.evaluate(OVERFLOW) == []
    row = page.locator("table.audit tbody tr", has_text=admin.email)
    assert row.locator(f"td[data-label='{details}'] .kv").first.is_visible()
    # Each detail is a chip of its own, wrapped inside the card.
    assert row.locator(".kv").count() >= 2
    context.close()


def test_the_new_edition_notice_can_be_put_away_and_the_update_stays(
    browser, live_server, create_user, db
):
    from karn.accounts.models import AuditEntry
    from tests.test_surveys_polish import old_install

    survey = old_install(db)
    manager = create_user("manager", language="en")
    context, page = sign_in(browser, live_server, manager, PHONE, "en")
    page.goto(f"{live_server}/surveys/")
    notice = page.locator(f"#default-update-{survey.id}")
    assert "A new edition of the default survey is available." in notice.inner_text()
    assert page.evaluate(OVERFLOW) == []
    notice.get_by_role("button", name="Not now: put this notice away").click()
    page.wait_for_load_state()
    assert page.locator(".flash-success").is_visible()
    # The warning is gone for everyone; the update is still offered quietly.
    offer = page.locator(f"#default-update-{survey.id}")
    assert not page.locator(".flash-warning").is_visible()
    assert offer.get_by_role("button", name="Publish the new edition").is_visible()
    admin = create_user("admin", language="nl")
    other, page2 = sign_in(browser, live_server, admin, 1366, "nl")
    page2.goto(f"{live_server}/surveys/?lang=nl")
    assert not page2.locator(".flash-warning").is_visible()
    # Publishing from the quiet offer still works.
    page2.locator(f"#default-update-{survey.id}").get_by_role("button").click()
    page2.wait_for_load_state()
    db.session.expire_all()
    assert [v.number for v in survey.versions] == [1, 2]
    entries = db.session.query(AuditEntry).filter_by(
        action="survey.default_update_dismissed"
    )
    assert [(e.user_id, e.details) for e in entries] == [(manager.id, {"edition": 2})]
    other.close()
    context.close()


@pytest.mark.parametrize(
    ("lang", "email_label"), [("nl", "E-mailadres"), ("en", "Email address")]
)
def test_a_customer_and_the_call_list_read_on_a_phone(
    browser, live_server, create_user, create_customer, db, lang, email_label
):
    from datetime import timedelta

    from karn import clock
    from karn.callbacks.models import CallTask
    from karn.enums import CallTaskSource

    customer = create_customer(
        name="Anna-Maria van den Heuvel-Vermeulen",
        email="anna-maria.vandenheuvel-vermeulen@zorgverzekeraar-voorbeeld.example",
        phone="+31 6 1234 5678",
        monthly_revenue=1234,
    )
    db.session.add(
        CallTask(
            customer=customer,
            source=CallTaskSource.SELECTION,
            due_at=clock.now() - timedelta(days=3),
        )
    )
    db.session.commit()
    staff = create_user("staff", language=lang)
    context, page = sign_in(browser, live_server, staff, PHONE, lang)
    page.goto(f"{live_server}/customers/{customer.id}?lang={lang}")
    assert page.evaluate(OVERFLOW) == []
    # The label stands above its value, which gets the card's full width.
    label = page.locator("dl.facts dt", has_text=email_label).first.bounding_box()
    value = page.locator("dl.facts dd", has_text="zorgverzekeraar").first.bounding_box()
    assert value["y"] >= label["y"] + label["height"] - 1
    assert value["width"] > PHONE / 2

    page.goto(f"{live_server}/calls/?lang={lang}")
    assert page.evaluate(OVERFLOW) == []
    card = page.locator("table.call-list tbody tr", has_text="Anna-Maria")
    assert "overdue" in card.get_attribute("class")
    phone = card.locator("td.phone")
    assert phone.is_visible() and phone.get_attribute("data-label")
    assert card.get_by_role("link", name="+31 6 1234 5678").is_visible()
    context.close()
