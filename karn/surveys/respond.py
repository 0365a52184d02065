"""What ex-customers see: the survey behind their link, the public link, unsubscribe.

No login. The language is the customer's, switchable with ?lang. Answers are
saved as the respondent goes (on every submit, and by the page's script while
typing), so a closed tab resumes where it was.
"""

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from sqlalchemy.exc import IntegrityError

from karn import clock
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.extensions import csrf, db, limiter
from karn.surveys import definition, delivery, links, responses
from karn.surveys.models import Invitation, Response, Survey, SurveyVersion

bp = Blueprint("respond", __name__)

HONEYPOT = "website"


def _lang() -> str:
    return str(get_locale())


def _shown_orders(version: SurveyVersion, seed: str) -> dict[str, list[str]]:
    return {
        q["key"]: definition.option_order(q, seed)
        for q in version.questions
        if q["type"] in definition.CHOICE_TYPES
    }


def _render_form(version, values, errors, orders, action, save_url=None, status=200):
    lang = _lang()
    questions = [q for q in version.questions if not q.get("hidden")]
    # Errors arrive per form field (an item of a rating, the phone number);
    # the page shows them at their question.
    by_question: dict[str, list[str]] = {}
    for q in questions:
        name = definition.field_name(q["key"])
        for field, message in errors.items():
            if field in (name, q["key"]) or field.startswith(name + "__"):
                by_question.setdefault(q["key"], []).append(message)
    return (
        render_template(
            "surveys/respond/form.html",
            questions=questions,
            values=values,
            errors=by_question,
            orders=orders,
            lang=lang,
            labels=definition.UI_LABELS,
            localise=definition.localise,
            field_name=definition.field_name,
            action=action,
            save_url=save_url,
            honeypot=HONEYPOT,
        ),
        status,
    )


def _page(template: str, status: int = 200, **context):
    return render_template(f"surveys/respond/{template}.html", **context), status


# --- The personal link -----------------------------------------------------------


def _invitation(token: str) -> Invitation | None:
    # One indexed lookup by hash whether or not the token exists, so the
    # answer takes as long for a guess as for a real link.
    return db.session.scalar(
        sa.select(Invitation).where(Invitation.token_hash == links.token_hash(token))
    )


def _respondent_language(invitation: Invitation) -> None:
    customer = invitation.customer
    if customer.language:
        g.respondent_language = customer.language.value


def _closed_page(invitation: Invitation | None):
    """The friendly page for a link that cannot be answered, or None."""
    if invitation is None or invitation.survey_version_id is None:
        return _page("unknown", 404)
    response = db.session.scalar(
        sa.select(Response).where(Response.invitation_id == invitation.id)
    )
    if response is not None and response.submitted_at is not None:
        return _page("thanks", 200, again=True, unsubscribe_token=_unsub(invitation))
    expires = invitation.expires_at
    if invitation.status.value == "expired" or (expires and expires <= clock.now()):
        return _page("expired", 410)
    return None


def _unsub(invitation: Invitation) -> str:
    return links.unsubscribe_token(invitation.customer_id)


def _response_for(invitation: Invitation, create: bool) -> Response | None:
    response = db.session.scalar(
        sa.select(Response).where(Response.invitation_id == invitation.id)
    )
    if response is None and create:
        response = Response(
            invitation_id=invitation.id,
            customer_id=invitation.customer_id,
            survey_version_id=invitation.survey_version_id,
            language=_lang(),
            channel="invitation",
        )
        db.session.add(response)
        try:
            db.session.flush()
        except IntegrityError:
            # A second tab created it a moment ago.
            db.session.rollback()
            return _response_for(invitation, create=False)
    return response


@bp.route("/s/<token>", methods=["GET", "POST"])
def survey(token: str):
    """The exit survey behind a personal link."""
    invitation = _invitation(token)
    if invitation is not None:
        _respondent_language(invitation)
    closed = _closed_page(invitation)
    if closed is not None:
        return closed
    version = db.session.get(SurveyVersion, invitation.survey_version_id)
    orders = _shown_orders(version, invitation.token_hash)
    action = url_for("respond.survey", token=token)
    save_url = url_for("respond.save", token=token)
    g.unsubscribe_token = _unsub(invitation)
    if request.method == "GET":
        response = _response_for(invitation, create=False)
        values = definition.form_values(
            version.questions, responses.saved_answers(response)
        )
        return _render_form(version, values, {}, orders, action, save_url)

    form = request.form.to_dict(flat=False)
    clean, errors = definition.validate_answers(version.questions, form, _lang())
    response = _response_for(invitation, create=True)
    if errors:
        responses.save_progress(response, version.questions, form)
        db.session.commit()
        return _render_form(version, form, errors, orders, action, save_url, 422)
    responses.submit(response, version, clean, orders)
    db.session.commit()
    return redirect(url_for("respond.survey", token=token))


@bp.route("/s/<token>/save", methods=["POST"])
def save(token: str):
    """Keep the answers typed so far (called by the page's script)."""
    invitation = _invitation(token)
    if invitation is None or _closed_page(invitation) is not None:
        return "", 404
    version = db.session.get(SurveyVersion, invitation.survey_version_id)
    response = _response_for(invitation, create=True)
    responses.save_progress(
        response, version.questions, request.form.to_dict(flat=False)
    )
    db.session.commit()
    return "", 204


# --- Unsubscribe ------------------------------------------------------------------


@bp.route("/u/<unsubscribe_token>", methods=["GET", "POST"])
@csrf.exempt
def unsubscribe(unsubscribe_token: str):
    """Unsubscribe without login: a button, or a mail client's one-click POST."""
    customer_id = links.customer_of_unsubscribe_token(unsubscribe_token)
    customer = db.session.get(Customer, customer_id) if customer_id else None
    if customer is None:
        return _page("unknown", 404)
    if customer.language:
        g.respondent_language = customer.language.value
    if request.method == "POST":
        # RFC 8058 one-click requests carry no CSRF token by design; the
        # signed token in the URL is the authorisation, and the action can
        # only ever stop mail.
        delivery.unsubscribe(customer)
        db.session.commit()
        if request.form.get("List-Unsubscribe") == "One-Click":
            return "", 200
        return _page("unsubscribed", 200)
    if customer.unsubscribed_at is not None:
        return _page("unsubscribed", 200)
    return _page("unsubscribe", 200, token=unsubscribe_token)


# --- The public link ------------------------------------------------------------


def reference_signature(reference: str, secret: str) -> str:
    """What the company's server appends to a customer reference: HMAC-SHA256 hex."""
    return hmac.new(secret.encode(), reference.encode(), hashlib.sha256).hexdigest()


def _referenced_customer(ref: str | None, sig: str | None) -> Customer | None:
    secret = current_app.config.get("PUBLIC_LINK_SECRET")
    if not (ref and sig and secret):
        return None
    if not hmac.compare_digest(reference_signature(ref, secret), sig):
        return None
    customer = db.session.scalar(sa.select(Customer).where(Customer.external_id == ref))
    if customer is None:
        result = upsert_departures([({"external_id": ref[:100]}, {})], Source.API)
        customer = db.session.get(Customer, result.ids[0])
    return customer


def _public_survey(public_token: str) -> Survey:
    survey = db.session.scalar(
        sa.select(Survey).where(Survey.public_token == public_token)
    )
    if survey is None:
        abort(404)
    return survey


def _public_limit() -> str:
    return current_app.config["PUBLIC_LINK_RATE_LIMIT"]


@bp.route("/a/<public_token>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def public(public_token: str):
    """The survey's public link, for a cancel page or a receipt."""
    survey = _public_survey(public_token)
    version = delivery.latest_version(survey.id)
    if version is None:
        return _page("unknown", 404)
    # The shown order must survive a failed submit; keep its seed in the session.
    seed = session.setdefault("public_seed", secrets.token_hex(16))
    orders = _shown_orders(version, seed)
    ref, sig = request.args.get("ref"), request.args.get("sig")
    action = url_for("respond.public", public_token=public_token, ref=ref, sig=sig)
    if request.method == "GET":
        return _render_form(version, {}, {}, orders, action)
    if request.form.get(HONEYPOT):
        # A bot filled in the field people never see: thank it, store nothing.
        return _page("thanks", 200)
    form = request.form.to_dict(flat=False)
    clean, errors = definition.validate_answers(version.questions, form, _lang())
    if errors:
        return _render_form(version, form, errors, orders, action, status=422)
    customer = _referenced_customer(ref, sig)
    response = Response(
        customer_id=customer.id if customer else None,
        survey_version_id=version.id,
        language=_lang(),
        channel="anonymous",
    )
    db.session.add(response)
    db.session.flush()
    responses.submit(response, version, clean, orders)
    db.session.commit()
    session.pop("public_seed", None)
    return _page("thanks", 200)
