"""Sign in and out, one's own account, and the admin pages for users, keys and audit."""

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from karn import clock
from karn.accounts import audit, audit_text, operations
from karn.accounts.auditlog import AuditFilters, users_in_log
from karn.accounts.forms import (
    AccountForm,
    ApiKeyForm,
    ConfirmForm,
    LoginForm,
    PasswordForm,
    UserEditForm,
    UserForm,
)
from karn.accounts.models import ApiKey, AuditEntry, User
from karn.accounts.security import (
    ADMINS,
    ALL_ROLES,
    check_password,
    local_path,
    roles_required,
)
from karn.enums import Role
from karn.extensions import db, limiter, login_manager

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _home(user: User) -> str:
    """Where a user starts: staff on their call list, everyone else the overview."""
    return url_for("calls.index") if user.role == Role.STAFF else url_for("core.index")


def _safe_next(target: str | None, user: User) -> str:
    # Only local paths: an open redirect would let a phishing link bounce
    # through Karn's login page.
    return local_path(target) or _home(user)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    """Sign in with email address and password."""
    if current_user.is_authenticated:
        return redirect(_home(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(sa.select(User).where(User.email == email))
        ok = check_password(user.password_hash if user else None, form.password.data)
        if ok and user.active:
            session.pop("lang", None)
            login_user(user, remember=form.remember.data)
            user.last_login_at = clock.now()
            audit.record("login", user, user=user)
            db.session.commit()
            return redirect(_safe_next(request.args.get("next"), user))
        audit.record("login.failed", user=user, email=email)
        db.session.commit()
        flash(_("Wrong email address or password."), "error")
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out."""
    if ConfirmForm().validate_on_submit():
        audit.record("logout", current_user)
        db.session.commit()
        logout_user()
        flash(_("You are signed out."), "info")
    return redirect(url_for("accounts.login"))


@bp.route("/account", methods=["GET", "POST"])
@roles_required(*ALL_ROLES)
def account():
    """One's own name, language and password."""
    form = AccountForm(obj=current_user, prefix="acc")
    if request.method == "GET":
        form.language.data = current_user.language.value
    pw_form = PasswordForm(prefix="pw")
    if request.method == "POST" and "acc-name" in request.form and form.validate():
        current_user.name = form.name.data.strip()
        current_user.language = form.language.data
        session.pop("lang", None)
        db.session.commit()
        flash(_("Your settings are saved."), "success")
        return redirect(url_for("accounts.account"))
    if request.method == "POST" and "pw-new" in request.form and pw_form.validate():
        if not check_password(current_user.password_hash, pw_form.current.data):
            pw_form.current.errors.append(_("This is not your current password."))
        else:
            operations.set_password(current_user, pw_form.new.data)
            db.session.commit()
            flash(_("Your password is changed."), "success")
            return redirect(url_for("accounts.account"))
    return render_template("accounts/account.html", form=form, pw_form=pw_form)


@bp.route("/admin/users")
@roles_required(*ADMINS)
def users():
    """All users with their roles."""
    rows = db.session.scalars(sa.select(User).order_by(User.active.desc(), User.name))
    return render_template("accounts/users.html", users=rows.all())


@bp.route("/admin/users/new", methods=["GET", "POST"])
@roles_required(*ADMINS)
def user_new():
    """Create a user; a generated password is shown once."""
    form = UserForm()
    if request.method == "GET":
        form.role.data, form.language.data = "staff", "nl"
    if form.validate_on_submit():
        try:
            user, password = operations.create_user(
                form.email.data,
                form.name.data,
                form.role.data,
                form.language.data,
                form.password.data or None,
            )
        except operations.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            if not form.active.data:
                user.active = False
            db.session.commit()
            if not form.password.data:
                flash(
                    _(
                        "User %(email)s created. Password (shown once): %(pw)s",
                        email=user.email,
                        pw=password,
                    ),
                    "secret",
                )
            else:
                flash(_("User %(email)s created.", email=user.email), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@roles_required(*ADMINS)
def user_edit(user_id: int):
    """Change a user's name, role, language, active flag or password."""
    user = db.session.get(User, user_id) or abort(404)
    form = UserEditForm(obj=user)
    if request.method == "GET":
        form.role.data, form.language.data = user.role.value, user.language.value
    if form.validate_on_submit():
        try:
            operations.update_user(
                user,
                name=form.name.data,
                role=form.role.data,
                language=form.language.data,
                active=form.active.data,
            )
            if form.password.data:
                operations.set_password(user, form.password.data)
        except operations.AccountError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(_("Changes to %(email)s saved.", email=user.email), "success")
            return redirect(url_for("accounts.users"))
    return render_template("accounts/user_form.html", form=form, user=user)


@bp.route("/admin/api-keys", methods=["GET", "POST"])
@roles_required(*ADMINS)
def api_keys():
    """List API keys and create a new one (its secret is shown once)."""
    form = ApiKeyForm()
    secret = None
    if form.validate_on_submit():
        key, secret = operations.create_api_key(form.name.data, current_user)
        db.session.commit()
        form = ApiKeyForm(formdata=None)
    keys = db.session.scalars(
        sa.select(ApiKey).order_by(
            ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc()
        )
    ).all()
    return render_template(
        "accounts/api_keys.html",
        form=form,
        keys=keys,
        secret=secret,
        confirm=ConfirmForm(),
    )


@bp.route("/admin/api-keys/<int:key_id>/revoke", methods=["POST"])
@roles_required(*ADMINS)
def api_key_revoke(key_id: int):
    """Revoke an API key."""
    key = db.session.get(ApiKey, key_id) or abort(404)
    if ConfirmForm().validate_on_submit():
        operations.revoke_api_key(key)
        db.session.commit()
        flash(_("Key %(name)s is revoked.", name=key.name), "success")
    return redirect(url_for("accounts.api_keys"))


AUDIT_PAGE_SIZE = 50


ACTOR_LABELS = {
    "people": _l("People"),
    "system": _l("Karn itself"),
    "api": _l("API keys"),
}


@bp.route("/admin/audit")
@roles_required(*ADMINS)
def audit_log():
    """The audit log, newest first, filterable by action, user and dates."""
    filters = AuditFilters.from_args(request.args)
    before = request.args.get("before", type=int)
    query = (
        sa.select(AuditEntry)
        .where(*filters.conditions())
        .order_by(AuditEntry.id.desc())
        .limit(AUDIT_PAGE_SIZE + 1)
    )
    if before:
        # Keyset paging stays fast however long the log grows.
        query = query.where(AuditEntry.id < before)
    entries = db.session.scalars(query).all()
    more = len(entries) > AUDIT_PAGE_SIZE
    entries = entries[:AUDIT_PAGE_SIZE]
    actions = db.session.scalars(sa.select(AuditEntry.action).distinct()).all()
    named = db.session.scalars(
        sa.select(User).where(User.id.in_(audit_text.user_ids(entries)))
    ).all()
    return render_template(
        "accounts/audit.html",
        entries=entries,
        actor_labels=ACTOR_LABELS,
        action_label=audit_text.action_label,
        describe=audit_text.details,
        subject=audit_text.subject,
        named={u.id: u for u in named},
        action=filters.action,
        filters=filters,
        users=users_in_log(),
        actions=sorted(actions, key=lambda a: audit_text.action_label(a).lower()),
        next_before=entries[-1].id if more else None,
    )
