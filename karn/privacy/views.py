"""Privacy pages: erasure and access requests, the audit CSV, the privacy notice."""

import json

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from karn import clock
from karn.accounts import audit, auditlog
from karn.accounts.forms import ConfirmForm
from karn.accounts.security import ADMINS, roles_required
from karn.customers.models import Customer
from karn.enums import Language
from karn.extensions import db
from karn.privacy import document, notices, operations
from karn.privacy.forms import NoticeForm

bp = Blueprint("privacy", __name__, url_prefix="/privacy")


def _customer(customer_id: int) -> Customer:
    return db.session.get(Customer, customer_id) or abort(404)


@bp.route("/customers/<int:customer_id>/erase", methods=["GET", "POST"])
@roles_required(*ADMINS)
def erase(customer_id: int):
    """Confirm, then erase one person's personal data; the page says what went."""
    customer = _customer(customer_id)
    form = ConfirmForm()
    if customer.erased_at is None and form.validate_on_submit():
        report = operations.erase_customer(customer, user=current_user)
        db.session.commit()
        flash(_("The personal data of this customer is erased."), "success")
        return render_template(
            "privacy/erased.html", customer=customer, report=report, done=True
        )
    report = None if customer.erased_at else operations.preview_erasure(customer)
    db.session.rollback()
    return render_template(
        "privacy/erase.html", customer=customer, report=report, form=form
    )


@bp.route("/customers/<int:customer_id>/export.json")
@roles_required(*ADMINS)
def export_json(customer_id: int):
    """Everything Karn holds on one person, as a JSON download."""
    customer = _customer(customer_id)
    data = operations.export_person(customer)
    audit.record("privacy.export", customer, format="json")
    db.session.commit()
    body = json.dumps(data, indent=2, ensure_ascii=False)
    stamp = clock.now().strftime("%Y%m%d")
    return Response(
        body,
        mimetype="application/json",
        headers={
            "Content-Disposition": "attachment; filename="
            f"karn-customer-{customer.id}-{stamp}.json",
            "Cache-Control": "no-store",
        },
    )


@bp.route("/customers/<int:customer_id>/export")
@roles_required(*ADMINS)
def export_page(customer_id: int):
    """Everything Karn holds on one person, as a document in their language
    to print or save as PDF (karn.privacy.document)."""
    customer = _customer(customer_id)
    data = operations.export_person(customer)
    audit.record("privacy.export", customer, format="html")
    db.session.commit()
    lang, html = document.render(customer, data)
    response = current_app.make_response(
        render_template(
            "privacy/export.html",
            customer=customer,
            document=html,
            language_name=document.LANGUAGE_NAMES[Language(lang)],
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/audit.csv")
@roles_required(*ADMINS)
def audit_csv():
    """The audit log as CSV, filtered like the audit page (action, user, dates)."""
    filters = auditlog.AuditFilters.from_args(request.args)
    # "action" is record()'s own argument: the filters go under other names.
    audit.record(
        "audit.export", **{f"filter_{k}": v for k, v in filters.to_args().items()}
    )
    db.session.commit()
    stamp = clock.now().strftime("%Y%m%d")
    return Response(
        auditlog.csv_lines(current_app._get_current_object(), filters),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f"attachment; filename=karn-audit-{stamp}.csv",
            "Cache-Control": "no-store",
        },
    )


@bp.route("/admin")
@roles_required(*ADMINS)
def admin():
    """Privacy settings at a glance: retention, the notice, exports."""
    config = current_app.config
    return render_template(
        "privacy/admin.html",
        months=config.get(
            "RETENTION_PERSONAL_MONTHS", operations.DEFAULT_RETENTION_PERSONAL_MONTHS
        ),
        days=config.get("RETENTION_MAIL_DAYS", operations.DEFAULT_RETENTION_MAIL_DAYS),
        last_run=operations.last_retention_run(),
    )


@bp.route("/notice/edit", methods=["GET", "POST"])
@roles_required(*ADMINS)
def notice_edit():
    """Edit the privacy notice per language."""
    form = NoticeForm()
    if request.method == "GET":
        for lang in notices.LANGUAGES:
            form[lang].data = notices.stored(lang) or notices.DEFAULTS[lang]
    if form.validate_on_submit():
        changed = notices.save(
            {lang: form[lang].data for lang in notices.LANGUAGES}, current_user.id
        )
        if changed:
            audit.record("privacy.notice", languages=",".join(changed))
        db.session.commit()
        flash(_("The privacy notice is saved."), "success")
        return redirect(url_for("privacy.notice_edit"))
    return render_template("privacy/notice_edit.html", form=form)


@bp.route("", strict_slashes=False)
def notice():
    """The privacy notice for ex-customers, in their language."""
    lang = str(get_locale())
    return render_template(
        "privacy/notice.html", notice=notices.as_html(notices.text(lang))
    )
