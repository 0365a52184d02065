"""Who may open what: every route, for anonymous visitors and each role.

Adding a route without adding it here fails test_every_route_is_in_the_matrix.
"""

import pytest
from flask import url_for

from tests.conftest import csrf_token

ROLES = ("anonymous", "staff", "manager", "admin")
LOGIN = "login"  # anonymous visitors are sent to the login page

# endpoint: (method, expected status for anonymous, staff, manager, admin)
MATRIX = {
    "core.index": ("GET", 302, 302, 302, 302),
    "core.overview": ("GET", LOGIN, 200, 200, 200),
    "core.health": ("GET", 200, 200, 200, 200),
    "accounts.login": ("GET", 200, 302, 302, 302),
    "accounts.logout": ("POST", LOGIN, 302, 302, 302),
    "accounts.account": ("GET", LOGIN, 200, 200, 200),
    "accounts.users": ("GET", LOGIN, 403, 403, 200),
    "accounts.user_new": ("GET", LOGIN, 403, 403, 200),
    "accounts.user_edit": ("GET", LOGIN, 403, 403, 200),
    "accounts.api_keys": ("GET", LOGIN, 403, 403, 200),
    "accounts.api_key_revoke": ("POST", LOGIN, 403, 403, 302),
    "accounts.audit_log": ("GET", LOGIN, 403, 403, 200),
}
NOT_CHECKED = {"static"}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - NOT_CHECKED == set(MATRIX)


@pytest.fixture
def sample_args(create_user, db):
    """Values for the routes' URL parameters: things that exist."""
    from karn.accounts.operations import create_api_key

    target = create_user("staff", email="target@example.com")
    key, _ = create_api_key("sample")
    db.session.commit()
    return {"user_id": target.id, "key_id": key.id}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_access(endpoint, role, app, client, create_user, login, sample_args):
    method, *expected_by_role = MATRIX[endpoint]
    expected = expected_by_role[ROLES.index(role)]
    if role != "anonymous":
        login(create_user(role))
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        url = url_for(endpoint, **{arg: sample_args[arg] for arg in rule.arguments})
    if method == "GET":
        response = client.get(url)
    else:
        page = "/login" if role == "anonymous" else "/account"
        response = client.post(url, data={"csrf_token": csrf_token(client, page)})
    if expected == LOGIN:
        assert response.status_code == 302
        assert response.location.startswith("/login")
    else:
        assert response.status_code == expected
