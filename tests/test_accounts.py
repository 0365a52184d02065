"""Signing in and out, sessions, roles, users, API keys and the audit log."""

import pytest
import sqlalchemy as sa

from karn.accounts.models import ApiKey, AuditEntry, User
from karn.accounts.operations import find_api_key
from tests.conftest import PASSWORD, csrf_token


def audit_actions(db):
    return db.session.scalars(
        sa.select(AuditEntry.action).order_by(AuditEntry.id)
    ).all()


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/overview")
    assert response.status_code == 302
    assert response.location.startswith("/login")


def test_login_with_right_password_opens_overview(client, create_user, login, db):
    user = create_user("manager")
    response = login(user)
    assert response.location == "/"
    page = client.get("/overview")
    assert page.status_code == 200
    assert user.name in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).last_login_at is not None
    assert "login" in audit_actions(db)


def test_wrong_password_is_refused_and_logged(client, create_user, db):
    user = create_user("staff")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": user.email, "password": "wrong", "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 200
    assert "Wrong email address or password." in response.get_data(as_text=True)
    assert client.get("/overview").status_code == 302
    assert audit_actions(db)[-1] == "login.failed"


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client):
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "nobody@example.com", "password": "x", "csrf_token": token},
        headers={"Accept-Language": "en"},
    )
    assert "Wrong email address or password." in response.get_data(as_text=True)


def test_inactive_user_cannot_sign_in(client, create_user):
    user = create_user("staff", active=False)
    token = csrf_token(client, "/login")
    client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert client.get("/overview").status_code == 302


def test_login_without_csrf_token_is_rejected(client, create_user):
    user = create_user("admin")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/overview").status_code == 302


def test_login_is_rate_limited(client, app, create_user):
    user = create_user("staff")
    token = csrf_token(client, "/login")
    statuses = [
        client.post(
            "/login", data={"email": user.email, "password": "bad", "csrf_token": token}
        ).status_code
        for _ in range(12)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 429
    # Even the right password waits until the window has passed.
    response = client.post(
        "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429


def test_session_cookie_is_httponly_and_samesite_lax(client, create_user, login):
    response = login(create_user("staff"))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    "query",
    [
        "next=//evil.example/phish",
        "next=https://evil.example/",
        "next=evil.example",
        "next=javascript:alert(1)",
        # A browser drops tabs and line breaks and reads a backslash as a slash.
        "next=%2F%09%2Fevil.example%2F",
        "next=%2F%0A%2Fevil.example%2F",
        "next=%2F%5Cevil.example%2F",
        "next=%5C%5Cevil.example%2F",
        "next=%20%2F%2Fevil.example%2F",
        "next=%2F%2F%09evil.example%2F",
        # Encoded once more inside the value.
        "next=%2F%252Fevil.example%2F",
        "next=%2F%255Cevil.example%2F",
        "next=%2F%2509%2Fevil.example%2F",
        "next=%2F%25252F%2Fevil.example%2F",
    ],
)
def test_login_redirects_only_to_local_pages(client, create_user, query):
    user = create_user("staff")
    token = csrf_token(client, "/login")
    response = client.post(
        f"/login?{query}",
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    # Not the foreign address: a staff member's own start page, the call list.
    assert response.location == "/calls/"


def test_login_returns_to_the_page_asked_for(client, create_user):
    user = create_user("manager")
    asked = "/analysis/?segment=Zuid%20Oost&since=2025-01-01"
    to_login = client.get(asked)
    assert to_login.status_code == 302
    token = csrf_token(client, to_login.location)
    response = client.post(
        to_login.location,
        data={"email": user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.location == asked


def test_logout_needs_post_and_ends_the_session(client, create_user, login):
    login(create_user("staff"))
    assert client.get("/logout").status_code == 405
    token = csrf_token(client, "/overview")
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/overview").status_code == 302


def test_admin_creates_user_with_generated_password_shown_once(
    client, create_user, login, post_form, db
):
    login(create_user("admin"))
    response = post_form(
        "/admin/users/new",
        {
            "email": "Nieuw@Example.com",
            "name": "Nieuwe Collega",
            "role": "manager",
            "language": "nl",
            "active": "y",
        },
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    new = db.session.scalar(sa.select(User).where(User.email == "nieuw@example.com"))
    assert new is not None and new.role.value == "manager"
    # The generated password is on the page once, and it works.
    import re

    password = re.search(r"(\w{5}-\w{5}-\w{5}-\w{5})", text).group(1)
    assert password not in client.get("/admin/users").get_data(as_text=True)
    other = client.application.test_client()
    token = csrf_token(other, "/login")
    signed_in = other.post(
        "/login",
        data={"email": "nieuw@example.com", "password": password, "csrf_token": token},
    )
    assert signed_in.status_code == 302


def test_duplicate_email_is_refused_with_a_message(
    client, create_user, login, post_form
):
    admin = create_user("admin")
    login(admin)
    response = post_form(
        "/admin/users/new",
        {"email": admin.email, "name": "Twin", "role": "staff", "language": "en"},
        headers={"Accept-Language": "en"},
    )
    assert "There is already a user with this email address." in response.get_data(
        as_text=True
    )


def test_the_last_admin_cannot_be_demoted(client, create_user, login, post_form, db):
    admin = create_user("admin")
    login(admin)
    url = f"/admin/users/{admin.id}"
    response = post_form(
        url,
        {"name": admin.name, "role": "staff", "language": "en", "active": "y"},
        follow_redirects=True,
    )
    assert "at least one active administrator" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).role.value == "admin"


def test_admin_changes_role_and_it_is_audited(
    client, create_user, login, post_form, db
):
    login(create_user("admin"))
    staff = create_user("staff")
    post_form(
        f"/admin/users/{staff.id}",
        {"name": staff.name, "role": "manager", "language": "nl", "active": "y"},
    )
    db.session.expire_all()
    assert db.session.get(User, staff.id).role.value == "manager"
    entry = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "user.update")
    ).one()
    assert entry.details == {"role": "staff -> manager"}


def test_user_changes_own_password(client, create_user, login, post_form):
    user = create_user("staff")
    login(user)
    response = post_form(
        "/account",
        {
            "pw-current": PASSWORD,
            "pw-new": "a-new-long-password",
            "pw-confirm": "a-new-long-password",
        },
    )
    assert response.status_code == 302
    other = client.application.test_client()
    token = csrf_token(other, "/login")
    assert (
        other.post(
            "/login",
            data={
                "email": user.email,
                "password": "a-new-long-password",
                "csrf_token": token,
            },
        ).status_code
        == 302
    )


def test_api_key_is_shown_once_stored_hashed_and_revocable(
    client, create_user, login, post_form, db
):
    login(create_user("admin"))
    page = post_form("/admin/api-keys", {"name": "CRM export"}).get_data(as_text=True)
    import re

    secret = re.search(r"(karn_[A-Za-z0-9_-]{40,})", page).group(1)
    key = db.session.scalars(sa.select(ApiKey)).one()
    assert secret not in (key.key_hash, key.prefix)
    assert find_api_key(secret).id == key.id
    assert secret not in client.get("/admin/api-keys").get_data(as_text=True)

    post_form(f"/admin/api-keys/{key.id}/revoke", {}, page="/admin/api-keys")
    db.session.expire_all()
    assert find_api_key(secret) is None
    assert {"apikey.create", "apikey.revoke"} <= set(audit_actions(db))


def test_audit_log_filters_by_action(client, create_user, login, db):
    admin = create_user("admin")
    login(admin)
    page = client.get("/admin/audit?action=login").get_data(as_text=True)
    assert 'title="user.create"' not in page
    assert '<td title="login" data-label="Action">Signed in</td>' in page
