"""Who may open what: every route, for anonymous visitors and each role.

Adding a route without adding it here fails test_every_route_is_in_the_matrix.
"""

import pytest
import sqlalchemy as sa
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
    "webhook_admin.index": ("GET", LOGIN, 403, 403, 200),
    "webhook_admin.endpoint": ("GET", LOGIN, 403, 403, 200),
    "webhook_admin.resend": ("POST", LOGIN, 403, 403, 302),
    "webhook_admin.delete": ("POST", LOGIN, 403, 403, 302),
    "customers.index": ("GET", LOGIN, 200, 200, 200),
    "customers.show": ("GET", LOGIN, 200, 200, 200),
    "customers.new": ("GET", LOGIN, 403, 200, 200),
    "customers.edit": ("GET", LOGIN, 403, 200, 200),
    "customers.import_upload": ("GET", LOGIN, 403, 200, 200),
    "customers.import_preview": ("GET", LOGIN, 403, 200, 200),
    "customers.import_result": ("GET", LOGIN, 403, 200, 200),
    "customers.import_rejected": ("GET", LOGIN, 403, 200, 200),
    # The API answers to API keys, not to sessions.
    "api.post_departures": ("POST", 401, 401, 401, 401),
    "api.get_departure": ("GET", 401, 401, 401, 401),
    "api.openapi": ("GET", 200, 200, 200, 200),
    "webhooks.stripe_events": ("POST", 404, 404, 404, 404),
    # What ex-customers open: no login, the same for everyone.
    "respond.survey": ("GET", 200, 200, 200, 200),
    "respond.save": ("POST", 204, 204, 204, 204),
    "respond.unsubscribe": ("GET", 200, 200, 200, 200),
    "respond.public": ("GET", 200, 200, 200, 200),
    "analysis.competitors": ("GET", LOGIN, 403, 403, 200),
    "delivery.deliverability_page": ("GET", LOGIN, 403, 403, 200),
    "delivery.deliverability_release": ("POST", LOGIN, 403, 403, 302),
    "delivery.outbox_list": ("GET", LOGIN, 403, 403, 200),
    "delivery.outbox_message": ("GET", LOGIN, 403, 403, 200),
    "delivery.outbox_message_html": ("GET", LOGIN, 403, 403, 200),
    "delivery.outbox_release": ("POST", LOGIN, 403, 403, 302),
    "delivery.outbox_retry": ("POST", LOGIN, 403, 403, 302),
    "delivery.schedule": ("GET", LOGIN, 403, 403, 200),
    "delivery.branding_page": ("GET", LOGIN, 403, 403, 200),
    # The company's logo (none set here) and colour, for the survey pages.
    "brand.logo_file": ("GET", 404, 404, 404, 404),
    "brand.colour_css": ("GET", 200, 200, 200, 200),
    "delivery.suppressions": ("GET", LOGIN, 403, 403, 200),
    "analysis.dashboard": ("GET", LOGIN, 403, 200, 200),
    "feedback.index": ("GET", LOGIN, 200, 200, 200),
    "feedback.new": ("GET", LOGIN, 200, 200, 200),
    "feedback.correct": ("POST", LOGIN, 302, 302, 302),
    "feedback.channels": ("GET", LOGIN, 403, 200, 200),
    "feedback.manage_channels": ("GET", LOGIN, 403, 403, 200),
    "feedback.import_upload": ("GET", LOGIN, 403, 200, 200),
    "feedback.import_preview": ("GET", LOGIN, 403, 200, 200),
    "feedback.import_result": ("GET", LOGIN, 403, 200, 200),
    "api.post_feedback": ("POST", 401, 401, 401, 401),
    "analysis.trends": ("GET", LOGIN, 403, 200, 200),
    "analysis.segments": ("GET", LOGIN, 403, 200, 200),
    "analysis.text": ("GET", LOGIN, 403, 200, 200),
    "analysis.chart": ("GET", LOGIN, 403, 200, 200),
    "analysis.export": ("GET", LOGIN, 403, 200, 200),
    "actions.index": ("GET", LOGIN, 403, 200, 200),
    "actions.new": ("GET", LOGIN, 403, 200, 200),
    "actions.show": ("GET", LOGIN, 403, 200, 200),
    "actions.edit": ("GET", LOGIN, 403, 200, 200),
    # Everyone who signs in may correct the tags of an answer or a call note.
    "analysis.correct_tags": ("POST", LOGIN, 302, 302, 302),
    "api.rankings": ("GET", 401, 401, 401, 401),
    "api.post_return": ("POST", 401, 401, 401, 401),
    "privacy.erase": ("GET", LOGIN, 403, 403, 200),
    "privacy.export_json": ("GET", LOGIN, 403, 403, 200),
    "privacy.export_page": ("GET", LOGIN, 403, 403, 200),
    "privacy.audit_csv": ("GET", LOGIN, 403, 403, 200),
    "privacy.admin": ("GET", LOGIN, 403, 403, 200),
    "privacy.notice_edit": ("GET", LOGIN, 403, 403, 200),
    "privacy.notice": ("GET", 200, 200, 200, 200),
    "api.delete_departure": ("DELETE", 401, 401, 401, 401),
    "editor.index": ("GET", LOGIN, 403, 200, 200),
    "editor.edit": ("GET", LOGIN, 403, 200, 200),
    "editor.discard": ("POST", LOGIN, 403, 302, 302),
    "editor.default_update": ("POST", LOGIN, 403, 302, 302),
    "editor.dismiss_default_update": ("POST", LOGIN, 403, 302, 302),
    "editor.preview": ("GET", LOGIN, 403, 200, 200),
    "editor.version": ("GET", LOGIN, 403, 200, 200),
    "digest.index": ("GET", LOGIN, 200, 200, 200),
    "digest.pdf": ("GET", LOGIN, 200, 200, 200),
    "calls.index": ("GET", LOGIN, 200, 200, 200),
    "calls.task": ("GET", LOGIN, 200, 200, 200),
    "calls.assign": ("POST", LOGIN, 302, 302, 302),
    "calls.reschedule": ("POST", LOGIN, 302, 302, 302),
    "calls.close": ("POST", LOGIN, 302, 302, 302),
    # Only the note's author, managers and admins may correct a note.
    "calls.edit_note": ("GET", LOGIN, 403, 200, 200),
    "calls.add": ("POST", LOGIN, 302, 302, 302),
    "calls.select": ("GET", LOGIN, 403, 200, 200),
    "calls.calling_hours": ("GET", LOGIN, 403, 403, 200),
    "calls.win_back": ("POST", LOGIN, 302, 302, 302),
    "risk.index": ("GET", LOGIN, 403, 200, 200),
    "risk.export": ("GET", LOGIN, 403, 200, 200),
    "risk.plan_keep_calls": ("POST", LOGIN, 403, 302, 302),
    "experiments.index": ("GET", LOGIN, 403, 200, 200),
    "followups.index": ("GET", LOGIN, 403, 200, 200),
    "followups.edit": ("GET", LOGIN, 403, 200, 200),
    # No follow-up is written in the sample: nothing to preview.
    "followups.preview_html": ("GET", LOGIN, 403, 404, 404),
    "experiments.show": ("GET", LOGIN, 403, 200, 200),
    "experiments.draws": ("GET", LOGIN, 403, 200, 200),
    "risk.export_xlsx": ("GET", LOGIN, 403, 200, 200),
    # Without a trained model there is no chart to draw.
    "risk.chart": ("GET", LOGIN, 403, 404, 404),
    "api.at_risk": ("GET", 401, 401, 401, 401),
    "campaigns.new": ("GET", LOGIN, 403, 200, 200),
    # An empty form is shown again with what is missing: nothing is sent.
    "campaigns.send": ("POST", LOGIN, 403, 200, 200),
    "effect.index": ("GET", LOGIN, 403, 200, 200),
    # The sample experiment is a keep call, which the effect page does not show.
    "effect.experiment": ("GET", LOGIN, 403, 404, 404),
    "effect.draws": ("GET", LOGIN, 403, 404, 404),
    "api.get_effect": ("GET", 401, 401, 401, 401),
}
NOT_CHECKED = {"static"}
# URL values that differ per endpoint.
OVERRIDES = {
    "analysis.export": {"fmt": "csv"},
    "analysis.correct_tags": {"kind": "note"},
    "risk.chart": {"name": "calibration"},
    "brand.logo_file": {"sha": "0" * 64},
    "brand.colour_css": {"stamp": "-"},
    "followups.edit": {"reason": "price"},
    "followups.preview_html": {"reason": "price", "lang": "nl"},
}


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - NOT_CHECKED == set(MATRIX)


@pytest.fixture
def sample_args(create_user, create_customer, db):
    """Values for the routes' URL parameters: things that exist."""
    from karn.accounts.operations import create_api_key
    from karn.customers.models import ImportRun
    from karn.customers.operations import compress

    target = create_user("staff", email="target@example.com")
    key, _ = create_api_key("sample")
    customer = create_customer(external_id="X1")
    data = b"id,email\n1,a@example.com\n2,bad@\n"
    run = ImportRun(
        filename="x.csv",
        upload=compress(data),
        mapping={"id": "external_id", "email": "email"},
        rejected_csv=compress(b"line\n3\n"),
    )
    db.session.add(run)
    from karn.surveys import delivery, links
    from karn.surveys.editing import ensure_default_survey
    from karn.surveys.models import Invitation, OutboxMessage

    survey, _ = ensure_default_survey()
    db.session.add(
        Invitation(customer=customer, survey=survey, scheduled_for=customer.departed_at)
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(sa.select(Invitation)).one()
    message = db.session.scalars(sa.select(OutboxMessage)).one()
    from karn.callbacks.models import CallNote, CallTask
    from karn.enums import CallOutcome, CallTaskSource

    task = CallTask(customer=customer, source=CallTaskSource.MANUAL, phone="0612")
    note = CallNote(task=task, customer=customer, outcome=CallOutcome.NO_ANSWER)
    db.session.add_all([task, note])
    db.session.commit()
    from datetime import date

    from karn.actions.models import ImprovementAction

    action = ImprovementAction(
        title="Sample", reason="service", started_on=date(2026, 1, 1)
    )
    db.session.add(action)
    from karn.enums import ExperimentKind
    from karn.experiments.models import Experiment

    experiment = Experiment(
        kind=ExperimentKind.KEEP_CALL, horizon_days=90, treatment_share=0.8
    )
    db.session.add(experiment)
    db.session.commit()
    from karn.feedback.models import FeedbackImport, FeedbackItem

    item = FeedbackItem(
        channel="review",
        text="Te duur",
        received_at=customer.departed_at,
        language="nl",
        dedupe_key="0123456789abcdef",
        via="form",
    )
    feedback_import = FeedbackImport(
        filename="f.csv", upload=compress(b"text,date\nx,1-1-2026\n")
    )
    db.session.add_all([item, feedback_import])
    db.session.commit()
    from karn.webhooks.models import WebhookDelivery, WebhookEndpoint

    hook = WebhookEndpoint(
        url="https://crm.example.com/karn", secret="whsec_c2FtcGxl", events=[]
    )
    db.session.add(hook)
    db.session.flush()
    sent = WebhookDelivery(
        endpoint_id=hook.id,
        event="call_note.created",
        message_id="msg_sample",
        body="{}",
        status="delivered",
    )
    db.session.add(sent)
    db.session.commit()
    return {
        "item_id": item.id,
        "endpoint_id": hook.id,
        "delivery_id": sent.id,
        "import_id": feedback_import.id,
        "token": links.invitation_token(invitation.id),
        "unsubscribe_token": links.unsubscribe_token(customer.id),
        "public_token": survey.public_token,
        "survey_id": survey.id,
        "name": "ranking",
        "fmt": "svg",
        "what": "ranking",
        "number": 1,
        "message_id": message.id,
        "user_id": target.id,
        "key_id": key.id,
        "customer_id": customer.id,
        "run_id": run.id,
        "external_id": "X1",
        "action_id": action.id,
        "experiment_id": experiment.id,
        "task_id": task.id,
        "note_id": note.id,
        "target_id": note.id,
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_access(endpoint, role, app, client, create_user, login, sample_args):
    method, *expected_by_role = MATRIX[endpoint]
    expected = expected_by_role[ROLES.index(role)]
    if role != "anonymous":
        login(create_user(role))
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        values = {**sample_args, **OVERRIDES.get(endpoint, {})}
        url = url_for(endpoint, **{arg: values[arg] for arg in rule.arguments})
    if method == "GET":
        response = client.get(url)
    elif method == "DELETE":
        response = client.delete(url)
    else:
        page = "/login" if role == "anonymous" else "/account"
        response = client.post(url, data={"csrf_token": csrf_token(client, page)})
    if expected == LOGIN:
        assert response.status_code == 302
        assert response.location.startswith("/login")
    else:
        assert response.status_code == expected
    # What a signed-in user is sent, and a respondent's pages behind a personal
    # link, no browser or proxy keeps (signing out ends being signed in).
    if (role != "anonymous" and endpoint != "accounts.logout") or endpoint.startswith(
        "respond."
    ):
        assert "no-store" in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("role", ROLES)
def test_static_files_may_be_cached(role, client, create_user, login):
    if role != "anonymous":
        login(create_user(role))
    response = client.get("/static/karn.css")
    assert response.status_code == 200
    assert "no-store" not in response.headers.get("Cache-Control", "")
