"""Customer pages: adding and editing a customer, and CSV import."""

import codecs
import io
from datetime import date

import sqlalchemy as sa
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
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.validators import Optional

from karn import clock
from karn.accounts import audit
from karn.accounts.forms import ConfirmForm
from karn.accounts.security import ADMINS, MANAGERS, roles_required
from karn.customers import csvparse, erased, operations
from karn.customers.csv_decoding import count_fallbacks
from karn.customers.csv_rejected import read_rejected, reason_text
from karn.customers.csv_status import TENURE_UNITS, Choices
from karn.customers.csv_summary import check_first_rows, summarise
from karn.customers.models import Customer, ImportRun
from karn.enums import CustomerStatus, Reason
from karn.extensions import db
from karn.formatting import number

bp = Blueprint("customers", __name__, url_prefix="/customers")


def _lang() -> str:
    from flask_babel import get_locale

    return str(get_locale())


class CustomerForm(FlaskForm):
    """The fields of a customer; values are checked by the CSV rules."""

    external_id = StringField(_l("Customer number"), validators=[Optional()])
    email = StringField(_l("Email address"), validators=[Optional()])
    name = StringField(_l("Name"), validators=[Optional()])
    phone = StringField(_l("Phone"), validators=[Optional()])
    language = SelectField(
        _l("Language"),
        choices=[
            SelectChoice("", _l("Company default")),
            SelectChoice("nl", "Nederlands"),
            SelectChoice("en", "English"),
        ],
        default="",
    )
    status = SelectField(
        _l("Status"),
        choices=[
            SelectChoice(CustomerStatus.DEPARTED.value, _l("Departed")),
            SelectChoice(CustomerStatus.ACTIVE.value, _l("Active: still a customer")),
        ],
        default=CustomerStatus.DEPARTED.value,
        description=_l("Only departed customers are invited to the survey."),
    )
    departed_at = StringField(
        _l("Departure date"),
        description=_l(
            "For example 31-03-2026 or 2026-03-31. An active customer needs none."
        ),
    )
    plan = StringField(_l("Plan"), validators=[Optional()])
    segment = StringField(_l("Segment"), validators=[Optional()])
    region = StringField(_l("Region"), validators=[Optional()])
    tenure_months = StringField(_l("Customer for (months)"), validators=[Optional()])
    monthly_revenue = StringField(_l("Monthly revenue"), validators=[Optional()])
    lifetime_value = StringField(_l("Lifetime value"), validators=[Optional()])
    objects_to_profiling = BooleanField(
        _l("Objects to profiling"),
        description=_l(
            "Karn then gives this customer no churn-risk score, does not learn "
            "from them, and deletes their score now."
        ),
    )
    # Shown only when the number or address belongs to an erased person.
    add_again = BooleanField(
        _l("Add again anyway"),
        description=_l(
            "For an administrator who knows this is wanted: the person is added "
            "again, later imports bring their departures back, and the audit log "
            "records it. Their address stays on the suppression list: Karn does "
            "not mail them."
        ),
    )

    def cleaned(self) -> dict | None:
        """The values checked by the same rules as an import; errors on the fields."""
        values = {name: getattr(self, name).data or "" for name in csvparse.FIELDS}
        clean, errors = csvparse.validate_record(values)
        active = self.status.data == CustomerStatus.ACTIVE.value
        if not active and not values["departed_at"].strip():
            self.departed_at.errors = [_("Give the date the customer left.")]
            return None
        for error in errors:
            target = getattr(self, error.column or "external_id")
            target.errors = [*target.errors, error.message(_lang())]
        if errors:
            return None
        clean["status"] = CustomerStatus.ACTIVE if active else CustomerStatus.DEPARTED
        return clean


def _fill(form: CustomerForm, customer: Customer) -> None:
    for name in csvparse.FIELDS:
        value = getattr(customer, name)
        if name == "departed_at":
            value = value.strftime("%d-%m-%Y") if value else ""
        elif name == "language":
            value = value.value if value else ""
        elif name in ("monthly_revenue", "lifetime_value") and value is not None:
            # In the reader's way ("28.363,55" in Dutch); read back as an
            # import reads amounts, in either way.
            value = number(value, 2)
        elif value is not None:
            value = str(value)
        getattr(form, name).data = value or ""
    form.status.data = customer.status.value
    form.objects_to_profiling.data = customer.profiling_objected_at is not None


def _objection(form: CustomerForm, customer: Customer) -> None:
    """Record or withdraw the objection to profiling as the form says."""
    objects = bool(form.objects_to_profiling.data)
    if objects != (customer.profiling_objected_at is not None):
        customer.profiling_objected_at = clock.now() if objects else None


def _confirmed(form: CustomerForm) -> bool:
    """An administrator ticked "Add again anyway"."""
    return bool(form.add_again.data) and current_user.has_role(*ADMINS)


def _audit_added_again(customer: Customer, erased_on: date) -> None:
    audit.record("customer.add_erased_again", customer, erased_on=erased_on.isoformat())


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new():
    """Add one customer by hand; a departed one is invited like any other.

    An erased person's departure is refused, as on every intake path, unless
    an administrator confirms adding them again.
    """
    form = CustomerForm()
    erased_on = None
    if form.validate_on_submit() and (clean := form.cleaned()) is not None:
        taken = clean.get("external_id") and db.session.scalar(
            sa.select(Customer.id).where(Customer.external_id == clean["external_id"])
        )
        erased_on = None if taken else erased.erased_on(clean)
        if taken:
            form.external_id.errors = [_("Another customer has this number.")]
        elif erased_on is None or _confirmed(form):
            if erased_on is not None:
                # Confirmed: the entry goes, so intake (and later imports)
                # take the person again.
                erased.forget(clean.get("external_id"), clean.get("email"))
            customer = operations.save_customer(None, clean)
            _objection(form, customer)
            audit.record("customer.create", customer)
            if erased_on is not None:
                _audit_added_again(customer, erased_on)
            db.session.commit()
            flash(_("Customer added."), "success")
            return redirect(url_for("customers.show", customer_id=customer.id))
    return render_template(
        "customers/form.html", form=form, customer=None, erased_on=erased_on
    )


@bp.route("/<int:customer_id>/edit", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def edit(customer_id: int):
    """Change a customer's data and status; a new number or address of an erased
    person only as on the new-customer form."""
    customer = db.session.get(Customer, customer_id) or abort(404)
    if customer.erased_at:
        abort(404)
    form = CustomerForm()
    if request.method == "GET":
        _fill(form, customer)
    erased_on = None
    if form.validate_on_submit() and (clean := form.cleaned()) is not None:
        taken = clean.get("external_id") and db.session.scalar(
            sa.select(Customer.id).where(
                Customer.external_id == clean["external_id"], Customer.id != customer.id
            )
        )
        identifiers = (clean.get("external_id"), clean.get("email"))
        if not taken and identifiers != (customer.external_id, customer.email):
            erased_on = erased.erased_on(clean)
        if taken:
            form.external_id.errors = [_("Another customer has this number.")]
        elif erased_on is None or _confirmed(form):
            if erased_on is not None:
                erased.forget(*identifiers)
            operations.save_customer(customer, clean)
            _objection(form, customer)
            audit.record("customer.update", customer)
            if erased_on is not None:
                _audit_added_again(customer, erased_on)
            db.session.commit()
            flash(_("Changes saved."), "success")
            return redirect(url_for("customers.show", customer_id=customer.id))
    return render_template(
        "customers/form.html", form=form, customer=customer, erased_on=erased_on
    )


# --- CSV import ----------------------------------------------------------------


class UploadForm(FlaskForm):
    file = FileField(
        _l("CSV file"),
        description=_l(
            "An export from your CRM: comma, semicolon or tab separated, UTF-8 or "
            "Windows-1252. Columns are recognised by their names in English or Dutch."
        ),
        validators=[FileRequired(_l("Choose a file."))],
    )
    dry_run = BooleanField(_l("Only check: count what would happen, write nothing"))


@bp.route("/import", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def import_upload():
    """Upload a CSV export; the next page shows what was recognised."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    request.max_content_length = limit + 64 * 1024
    form = UploadForm()
    if form.validate_on_submit():
        try:
            data = form.file.data.read(limit + 1)
        finally:
            form.file.data.close()
        if len(data) > limit:
            size = format_decimal(limit / (1024 * 1024), "#,##0.#")
            form.file.errors = [_("The file is larger than %(size)s MB.", size=size)]
        else:
            try:
                detected = csvparse.detect(io.BytesIO(data))
            except csvparse.CsvFormatError as exc:
                form.file.errors = [exc.message(_lang())]
            else:
                if detected.no_data:
                    form.file.errors = [_("The file has a header but no data rows.")]
            if not form.file.errors:
                run = ImportRun(
                    filename=(form.file.data.filename or "upload.csv")[:255],
                    dry_run=form.dry_run.data,
                    upload=operations.compress(data),
                    mapping=detected.mapping,
                    date_order=detected.date_order,
                    created_by_id=current_user.id,
                )
                db.session.add(run)
                db.session.commit()
                return redirect(url_for("customers.import_preview", run_id=run.id))
    runs = db.session.scalars(
        sa.select(ImportRun).order_by(ImportRun.id.desc()).limit(20)
    ).all()
    return render_template("customers/import.html", form=form, runs=runs)


def _target_choices():
    lang = _lang()
    choices = [("", _("Keep as extra attribute"))]
    for target in csvparse.TARGETS + (csvparse.SKIP,):
        en, nl = csvparse.TARGET_LABELS[target]
        choices.append((target, nl if lang == "nl" else en))
    return choices


def _column_of(mapping: dict, target: str) -> str | None:
    return next((h for h, t in mapping.items() if t == target), None)


def _posted_choices(form, mapping: dict) -> tuple[Choices, list[str]]:
    """The preview's choices of values, unit and date, and what is wrong in them.

    A list of values was made for one column (status-column, reason-column,
    tenure-column): choices for a column the user has since changed are left
    out, and the page shows the new column's values.
    """
    status: dict[str, str] = {}
    reasons: dict[str, str | None] = {}
    unit = None
    if form.get("status-column") == _column_of(mapping, "status"):
        for name, key in form.items():
            meaning = form.get("status-as-" + name.removeprefix("status-value-"))
            if name.startswith("status-value-") and meaning in list(CustomerStatus):
                status[key] = meaning
    if form.get("reason-column") == _column_of(mapping, "stated_reason"):
        for name, key in form.items():
            code = form.get("reason-as-" + name.removeprefix("reason-value-"))
            if name.startswith("reason-value-") and code is not None:
                reasons[key] = code if code in list(Reason) else None
    if form.get("tenure-column") == _column_of(mapping, "tenure_months"):
        unit = (
            form.get("tenure_unit") if form.get("tenure_unit") in TENURE_UNITS else None
        )
    errors, departed_on = [], None
    if text := (form.get("departed_on") or "").strip():
        try:
            departed_on = date.fromisoformat(text)
        except ValueError:
            errors.append(_("Not a date: %(value)s (use e.g. 2026-03-31)", value=text))
    return Choices(status, reasons, unit, departed_on), errors


@bp.route("/import/<int:run_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def import_preview(run_id: int):
    """Show the detected columns and first rows, and how the whole file's status
    and reason values will be read; the user may correct the mapping, the
    meaning of each value, the tenure unit and the date of undated departures.
    "Show again" re-reads the file with those choices, without importing."""
    run = db.session.get(ImportRun, run_id) or abort(404)
    if run.status != "pending" or run.upload is None:
        return redirect(url_for("customers.import_result", run_id=run.id))
    data = operations.decompress(run.upload)
    detected = csvparse.detect(io.BytesIO(data))
    # The whole file, not only the part detect() reads: a stray byte may be late.
    warnings = count_fallbacks(io.BytesIO(data), detected.encoding).warnings()
    confirm = ConfirmForm()
    problems = list(detected.problems)
    mapping = dict(run.mapping or {})
    choices = Choices()
    if confirm.validate_on_submit():
        mapping = {
            header: (request.form.get(f"map-{i}") or None)
            for i, header in enumerate(detected.headers)
        }
        run.mapping = mapping
        run.date_order = "mdy" if request.form.get("month_first") else "dmy"
        _, problems = csvparse.resolve_mapping(detected.headers, mapping)
        choices, wrong = _posted_choices(request.form, mapping)
        problems += wrong
        if request.form.get("action") == "refresh":
            db.session.commit()
        elif not problems:
            db.session.commit()
            try:
                operations.run_import(run, _lang(), choices)
            except csvparse.CsvFormatError:
                pass  # recorded on the run; the result page shows it
            audit.record(
                "customers.import",
                run,
                filename=run.filename,
                dry_run=run.dry_run,
                created=run.created,
                updated=run.updated,
                rejected=run.rejected,
            )
            db.session.commit()
            return redirect(url_for("customers.import_result", run_id=run.id))
    lang = _lang()
    rejections = None
    if not problems:
        rejections = check_first_rows(
            io.BytesIO(data), mapping, choices, date_order=run.date_order
        )
    return render_template(
        "customers/import_preview.html",
        rejections=rejections,
        reason_text=lambda error: reason_text(error, lang),
        run=run,
        detected=detected,
        mapping=mapping,
        choices=_target_choices(),
        summary=summarise(io.BytesIO(data), mapping, choices),
        reasons=[r.value for r in Reason],
        departed_on=choices.departed_on,
        problems=[
            p if isinstance(p, str) else p.message_nl if lang == "nl" else p.message_en
            for p in problems
        ],
        warnings=[w.message_nl if lang == "nl" else w.message_en for w in warnings],
        confirm=confirm,
    )


@bp.route("/import/<int:run_id>/result")
@roles_required(*MANAGERS)
def import_result(run_id: int):
    """What an import did: the first rejected rows with their reasons on the
    page, all of them to download."""
    run = db.session.get(ImportRun, run_id) or abort(404)
    rejected = None
    if run.rejected_csv:
        rejected = read_rejected(operations.decompress(run.rejected_csv))
    return render_template("customers/import_result.html", run=run, rejected=rejected)


@bp.route("/import/<int:run_id>/rejected.csv")
@roles_required(*MANAGERS)
def import_rejected(run_id: int):
    """The rejected rows of an import, with the reason for each, as CSV."""
    run = db.session.get(ImportRun, run_id) or abort(404)
    if not run.rejected_csv:
        abort(404)
    name = run.filename.rsplit(".", 1)[0] + "-rejected.csv"
    data = operations.decompress(run.rejected_csv)
    # Written in the uploaded file's encoding (csv_rejected): a BOM says UTF.
    charset = "windows-1252"
    if data.startswith(codecs.BOM_UTF8):
        charset = "utf-8"
    elif data.startswith(codecs.BOM_UTF16_LE):
        charset = "utf-16"
    return Response(
        data,
        content_type=f"text/csv; charset={charset}",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
