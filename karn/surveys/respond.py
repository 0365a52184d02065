"""What ex-customers see: the survey behind their link, the public link, unsubscribe.

No login. The language is the customer's, switchable with ?lang. Answers are
saved as the respondent goes (on every submit, and by the page's script while
typing), so a closed tab resumes where it was.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

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
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from karn import clock
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import InvitationStatus, Source
from karn.extensions import csrf, db, limiter, prepared
from karn.surveys import branding, definition, delivery, links, responses
from karn.surveys.models import Invitation, Response, Survey, SurveyVersion

bp = Blueprint("respond", __name__)

HONEYPOT = "website"
FORM = "surveys/respond/form.html"
# Published versions a process keeps; a survey gains one per publication.
VERSIONS_KEPT = 64
# Fresh pages kept per version: one per language and option order (120 orders
# for the default survey's five shuffled reasons) and kind of link.
RENDERED_KEPT = 512
# What differs between respondents shown the same fresh page: a page rendered
# once holds these words where the values go. Plain capitals, so neither
# escaping nor url_for changes them.
_SLOTS = {
    "action": "KARNSLOTACTION",
    "save_url": "KARNSLOTSAVEURL",
    "csrf": "KARNSLOTCSRF",
    "unsubscribe": "KARNSLOTUNSUBSCRIBE",
}


def _lang() -> str:
    return str(get_locale())


@bp.context_processor
def _brand():
    return {"brand": branding.current()}


# --- Published versions ----------------------------------------------------------


@dataclass(frozen=True)
class _Version:
    """A published version's questions as the pages use them; shared, never changed."""

    id: int
    questions: list[dict]
    shown: list[dict]  # without the hidden questions
    choices: list[dict]  # the questions whose options each respondent sees ordered
    # (language, option orders, kind of link) -> the page with nothing filled
    # in, with _SLOTS for what differs between respondents
    rendered: dict[tuple, str] = field(default_factory=dict)


def _version(version_id: int) -> _Version:
    # A published version never changes, so each process reads it once. The
    # cache belongs to the app, whose database it mirrors.
    cache = current_app.extensions.setdefault("karn.survey_versions", {})
    version = cache.get(version_id)
    if version is None:
        questions = db.session.scalar(
            sa.select(SurveyVersion.questions).where(SurveyVersion.id == version_id)
        )
        version = _Version(
            id=version_id,
            questions=questions,
            shown=[q for q in questions if not q.get("hidden")],
            choices=[q for q in questions if q["type"] in definition.CHOICE_TYPES],
        )
        if len(cache) >= VERSIONS_KEPT:
            cache.clear()
        cache[version_id] = version
    return version


def _shown_orders(version: _Version, seed: str) -> dict[str, list[str]]:
    return {q["key"]: definition.option_order(q, seed) for q in version.choices}


def _fresh_page(version: _Version, orders: dict, context: dict, **values) -> str:
    """The page with nothing filled in, rendered once and filled in per respondent.

    Most people open their link once, to a fresh page: rendering it from the
    templates each time was a good part of the survey page's cost.
    """
    key = (
        context["lang"],
        context["brand"].stamp,
        tuple((k, tuple(v)) for k, v in orders.items()),
        values["save_url"] is not None,
        values["unsubscribe"] is not None,
    )
    page = version.rendered.get(key)
    if page is None:
        g.unsubscribe_token = values["unsubscribe"] and _SLOTS["unsubscribe"]
        page = render_template(
            FORM,
            action=_SLOTS["action"],
            save_url=values["save_url"] and _SLOTS["save_url"],
            honeypot=HONEYPOT,
            csrf_token=lambda: _SLOTS["csrf"],
            **context,
        )
        if len(version.rendered) >= RENDERED_KEPT:
            version.rendered.clear()
        version.rendered[key] = page
    values["csrf"] = generate_csrf()
    for name, value in values.items():
        if value is not None:
            page = page.replace(_SLOTS[name], escape(value))
    return page


def _answered(question: dict, values) -> bool:
    for name in definition.field_names(question):
        value = values.get(name)
        if isinstance(value, list):
            value = next((v for v in value if str(v).strip()), None)
        if value is not None and str(value).strip():
            return True
    return False


def page_context(questions, values, errors, orders, lang: str) -> dict:
    """What the survey form's template needs besides the addresses."""
    # Errors arrive per form field (an item of a rating, the phone number);
    # the page shows them at their question.
    by_question: dict[str, list[str]] = {}
    for q in questions:
        name = definition.field_name(q["key"])
        for posted, message in errors.items():
            if posted in (name, q["key"]) or posted.startswith(name + "__"):
                by_question.setdefault(q["key"], []).append(message)
    # The other reasons offer everything but the main reason chosen: the page's
    # script hides it as the main reason changes, the page itself when shown
    # again with a main reason, and the server drops it should it come anyway.
    primary, secondary = definition._reason_questions(questions)
    excluded = {}
    if primary is not None and secondary is not None:
        main = values.get(definition.field_name(primary["key"]))
        main = main[0] if isinstance(main, list) and main else main
        excluded[secondary["key"]] = {
            "field": definition.field_name(primary["key"]),
            "value": main or None,
        }
    return {
        "questions": questions,
        "values": values,
        "errors": by_question,
        "orders": orders,
        "lang": lang,
        "labels": definition.UI_LABELS,
        "localise": definition.localise,
        "field_name": definition.field_name,
        "has_other_text": definition.has_other_text,
        "other": definition.OTHER,
        "excluded": excluded,
        "answered": sum(_answered(q, values) for q in questions),
        "brand": branding.current(),
    }


def _render_form(
    version: _Version,
    values,
    errors,
    orders,
    action,
    save_url=None,
    status=200,
    customer_id: int | None = None,
):
    # The footer's unsubscribe link; only pages that are shown need it.
    unsubscribe = None
    if customer_id is not None:
        unsubscribe = links.unsubscribe_token(customer_id)
    context = page_context(version.shown, values, errors, orders, _lang())
    # A signed-in member of staff sees their menu, and a message waiting to be
    # shown is shown once: those pages are rendered as they are.
    fresh = not values and not errors and not session.get("_flashes")
    if fresh and not current_user.is_authenticated:
        page = _fresh_page(
            version,
            orders,
            context,
            action=action,
            save_url=save_url,
            unsubscribe=unsubscribe,
        )
        return page, status
    g.unsubscribe_token = unsubscribe
    page = render_template(
        FORM, action=action, save_url=save_url, honeypot=HONEYPOT, **context
    )
    return page, status


def _page(template: str, status: int = 200, **context):
    return render_template(f"surveys/respond/{template}.html", **context), status


# --- The personal link -----------------------------------------------------------


# An invitation has at most one response (invitation_id is unique), so the
# outer join adds no rows. Built once, as building it costs more than running it.
_LINK = prepared(
    sa.select(
        Invitation.id,
        Invitation.customer_id,
        Invitation.survey_version_id,
        Invitation.status,
        Invitation.expires_at,
        Customer.language,
        Response.id.label("response_id"),
        Response.submitted_at,
    )
    .join(Customer, Customer.id == Invitation.customer_id)
    .outerjoin(Response, Response.invitation_id == Invitation.id)
    .where(Invitation.token_hash == sa.bindparam("token_hash"))
)


def _link(token_hash: str) -> sa.Row | None:
    """The invitation of a link with its customer's language and its response."""
    # One indexed lookup by hash whether or not the token exists, so the
    # answer takes as long for a guess as for a real link.
    return db.session.connection().execute(_LINK, {"token_hash": token_hash}).first()


def _closed(link: sa.Row | None) -> str | None:
    """Why a link cannot be answered (the page to show instead), or None."""
    if link is None or link.survey_version_id is None:
        return "unknown"
    if link.submitted_at is not None:
        return "thanks"
    expires = link.expires_at
    if link.status == InvitationStatus.EXPIRED or (expires and expires <= clock.now()):
        return "expired"
    return None


def _closed_page(link: sa.Row | None, reason: str):
    """The friendly page for a link that cannot be answered."""
    if reason == "thanks":
        token = links.unsubscribe_token(link.customer_id)
        # Right after submitting: the thanks; on a later visit, that it is done.
        just = session.pop(_THANKED, None)
        first = isinstance(just, dict) and just.get("link") == link.id
        return _page(
            "thanks",
            200,
            again=not first,
            call=first and just.get("call"),
            unsubscribe_token=token,
        )
    return _page(reason, 404 if reason == "unknown" else 410)


# The session remembers a submission until its thanks page is shown.
_THANKED = "thanked"


def _asked_for_call(questions: list[dict], clean: dict) -> bool:
    """Whether the answers ask for a call (a phone number was given)."""
    return any(
        q["type"] == definition.PHONE_TIME and q["key"] in clean for q in questions
    )


def _start(token: str) -> tuple[str, sa.Row | None, str | None]:
    """The token's hash, its link, and why it is closed; sets the page language."""
    token_hash = links.token_hash(token)
    link = _link(token_hash)
    if link is not None and link.language:
        g.respondent_language = link.language.value
    return token_hash, link, _closed(link)


# A personal link holds 256 secret bits (links.py): guessing one is hopeless,
# so there is no rate limit to check.
@bp.route("/s/<token>", methods=["GET", "POST"])
@limiter.exempt
def survey(token: str):
    """The exit survey behind a personal link."""
    if request.method == "GET" and not db.session().in_transaction():
        # Opening the page only reads: outside a transaction it costs no
        # BEGIN and ROLLBACK round trips to the database.
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    token_hash, link, closed = _start(token)
    if closed is not None:
        return _closed_page(link, closed)
    version = _version(link.survey_version_id)
    orders = _shown_orders(version, token_hash)
    action = url_for("respond.survey", token=token)
    save_url = url_for("respond.save", token=token)
    if request.method == "GET":
        values = definition.form_values(
            version.questions, responses.saved_answers(link.response_id)
        )
        return _render_form(
            version, values, {}, orders, action, save_url, customer_id=link.customer_id
        )

    form = request.form.to_dict(flat=False)
    lang = _lang()
    clean, errors = definition.validate_answers(version.questions, form, lang)
    if errors:
        response_id = responses.open_response(
            link.id, link.customer_id, link.survey_version_id, lang
        )
        if response_id is not None:
            responses.save_progress(response_id, version.questions, form)
        db.session.commit()
        return _render_form(
            version, form, errors, orders, action, save_url, 422, link.customer_id
        )
    submitted = responses.submit_invitation(
        invitation_id=link.id,
        customer_id=link.customer_id,
        version_id=link.survey_version_id,
        questions=version.questions,
        clean=clean,
        shown_orders=orders,
        lang=lang,
        has_progress=link.response_id is not None,
    )
    db.session.commit()
    if submitted:
        # Thanked for these answers once; another tab that lost is told it is done.
        session[_THANKED] = {
            "link": link.id,
            "call": _asked_for_call(version.questions, clean),
        }
    # Submitted, or submitted a moment ago by another tab: either way the
    # link now shows the thanks page.
    return redirect(action)


@bp.route("/s/<token>/save", methods=["POST"])
@limiter.exempt
def save(token: str):
    """Keep the answers typed so far (called by the page's script)."""
    _token_hash, link, closed = _start(token)
    if closed == "thanks":
        # Back on a page already sent, e.g. with the browser's back button.
        message = _("Your answers were already sent, so nothing more is saved.")
        return {"message": message}, 409
    if closed == "expired":
        message = _("This link has expired, so your changes cannot be saved.")
        return {"message": message}, 410
    if closed is not None:
        return {"message": _("This link is not recognised.")}, 404
    version = _version(link.survey_version_id)
    response_id = responses.open_response(
        link.id, link.customer_id, link.survey_version_id, _lang()
    )
    if response_id is not None:
        responses.save_progress(
            response_id, version.questions, request.form.to_dict(flat=False)
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
        if result.refused:
            return None  # an erased person's number: the answer stays anonymous
        customer = db.session.get(Customer, result.ids[0])
    return customer


def _public_version(public_token: str) -> _Version | None:
    """The newest version of the survey with this public link (404 without one)."""
    row = db.session.execute(
        sa.select(Survey.id, SurveyVersion.id.label("version_id"))
        .outerjoin(SurveyVersion, SurveyVersion.survey_id == Survey.id)
        .where(Survey.public_token == public_token)
        .order_by(SurveyVersion.number.desc())
        .limit(1)
    ).first()
    if row is None:
        abort(404)
    return None if row.version_id is None else _version(row.version_id)


def _public_limit() -> str:
    return current_app.config["PUBLIC_LINK_RATE_LIMIT"]


@bp.route("/a/<public_token>", methods=["GET", "POST"])
@limiter.limit(_public_limit, methods=["POST"])
def public(public_token: str):
    """The survey's public link, for a cancel page or a receipt."""
    version = _public_version(public_token)
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
    responses.submit_anonymous(
        version_id=version.id,
        customer_id=customer.id if customer else None,
        questions=version.questions,
        clean=clean,
        shown_orders=orders,
        lang=_lang(),
    )
    db.session.commit()
    session.pop("public_seed", None)
    return _page("thanks", 200, call=_asked_for_call(version.questions, clean))
