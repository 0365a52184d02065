"""The application factory: settings, extensions, blueprints, CLI and error pages."""

import gc
import os
import secrets
import time
from datetime import timedelta

from flask import Flask, g, has_request_context, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from karn import config as karn_config
from karn import formatting
from karn.enums import Language
from karn.extensions import (
    PREPARED,
    babel,
    csrf,
    db,
    limiter,
    login_manager,
    migrate,
)

LANGUAGES = [lang.value for lang in Language]
# psycopg's run count before it prepares a statement by itself: out of reach.
NEVER_PREPARE_BY_COUNT = 2**62
# Seconds a pooled connection may sit unused before it is tried again.
IDLE_BEFORE_TRY_S = 2.0
_RETURNED_AT = "karn.returned_at"
# How long a browser keeps to HTTPS for Karn's host after an HTTPS response.
HSTS_SECONDS = 365 * 24 * 3600
# Blueprints whose answers carry personal data without a signed-in user: the
# respondent's pages (a personal link) and the REST API (an API key).
PERSONAL_LINK_BLUEPRINTS = ("respond", "api")
MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


def create_app(test_config: dict | None = None) -> Flask:
    """Build a Karn application; tests pass their settings as a dict.

    Building it makes a few hundred thousand objects (models, routes,
    templates' globals) that live as long as the app: the garbage collector's
    passes over them while they are made free nothing and cost a tenth of a
    second of every `flask` command's start, so it waits until the app is built.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build_app(test_config)
    finally:
        if test_config is None:
            # Outside tests, which build many apps in one process, what was
            # made lives as long as the process: the collector's later passes
            # need not look at it again (a quarter of an empty `flask
            # surveys dispatch` pass went to them).
            gc.freeze()
        if collecting:
            gc.enable()


def _build_app(test_config: dict | None) -> Flask:
    app = Flask(
        __name__,
        instance_relative_config=True,
        instance_path=os.environ.get("KARN_INSTANCE_PATH") or None,
    )
    _configure(app, test_config)

    db.init_app(app)
    with app.app_context():
        _check_idle_connections(db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    babel.init_app(app, locale_selector=select_language)
    limiter.init_app(app)

    from karn import (
        models,  # noqa: F401  (registers every table)
        worker,
    )
    from karn.accounts import cli as accounts_cli
    from karn.accounts.views import bp as accounts_bp
    from karn.actions.views import bp as actions_bp
    from karn.analysis import cli as analysis_cli
    from karn.analysis.views import bp as analysis_bp
    from karn.api import effect as effect_api  # noqa: F401  (its route, on api_bp)
    from karn.api import feedback as feedback_api  # noqa: F401  (its route, on api_bp)
    from karn.api.stripe import bp as webhooks_bp
    from karn.api.views import bp as api_bp
    from karn.callbacks.views import bp as calls_bp
    from karn.customers import cli as customers_cli
    from karn.customers.views import bp as customers_bp
    from karn.demo import cli as demo_cli
    from karn.digest import cli as digest_cli
    from karn.digest.views import bp as digest_bp
    from karn.experiments.views import bp as experiments_bp
    from karn.feedback.views import bp as feedback_bp
    from karn.followups.campaign_views import bp as campaigns_bp
    from karn.followups.effect_views import bp as effect_bp
    from karn.followups.views import bp as followups_bp
    from karn.learning import cli as learning_cli
    from karn.pages.overview import bp as core_bp
    from karn.privacy import cli as privacy_cli
    from karn.privacy.views import bp as privacy_bp
    from karn.risk import cli as risk_cli
    from karn.risk.views import bp as risk_bp
    from karn.surveys import cli as surveys_cli
    from karn.surveys.admin import bp as delivery_bp
    from karn.surveys.branding import bp as brand_bp
    from karn.surveys.editor import bp as editor_bp
    from karn.surveys.respond import bp as respond_bp
    from karn.webhooks.views import bp as webhook_admin_bp

    _connect_features()
    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(customers_bp)
    app.register_blueprint(respond_bp)
    app.register_blueprint(brand_bp)
    app.register_blueprint(delivery_bp)
    app.register_blueprint(editor_bp)
    app.register_blueprint(analysis_bp)
    app.register_blueprint(actions_bp)
    app.register_blueprint(calls_bp)
    app.register_blueprint(digest_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(risk_bp)
    app.register_blueprint(experiments_bp)
    app.register_blueprint(feedback_bp)
    app.register_blueprint(webhook_admin_bp)
    app.register_blueprint(followups_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(effect_bp)
    accounts_cli.register(app)
    surveys_cli.register(app)
    customers_cli.register(app)
    analysis_cli.register(app)
    learning_cli.register(app)
    privacy_cli.register(app)
    digest_cli.register(app)
    risk_cli.register(app)
    worker.register(app)
    demo_cli.register(app)

    formatting.register(app)
    _register_error_pages(app)
    _register_hooks(app)
    if app.config["PROXY_COUNT"]:
        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    return app


def _connect_features() -> None:
    """What one feature does when another's data changes, wired in one place.

    A lower package announces (a customer departed, a response was submitted)
    and never imports the packages above it that act on it. Pages of a higher
    package that sit on a lower one's blueprint, keeping their URLs, are
    imported here too, before that blueprint is registered.
    """
    from karn.actions import effect as actions
    from karn.analysis import sources, totals
    from karn.analysis import views as dashboard
    from karn.callbacks import operations as call_operations
    from karn.callbacks import requests as call_requests
    from karn.customers import operations as intake
    from karn.experiments import operations as experiments
    from karn.feedback import queries as feedback
    from karn.learning import views as correction_pages  # noqa: F401
    from karn.pages import customers as customer_pages  # noqa: F401
    from karn.risk import keepcalls as keep_call_pages  # noqa: F401
    from karn.surveys import delivery, responses, sending
    from karn.webhooks import events as webhook_events

    intake.on_departed(delivery.schedule_invitations)
    intake.on_returned(call_operations.record_returns)
    # A control group held back from keep calls stays off every call list.
    call_operations.on_held_back(experiments.held_back_ids)
    # In this order: a call request may first create the respondent's customer
    # record, which the totals then count; the totals' rows stay locked only
    # from their update to the commit.
    responses.on_submitted(call_requests.add_requested_call)
    responses.on_submitted(totals.count_submitted)
    # Webhooks: a new answer, and the result of a follow-up or campaign mail.
    responses.on_submitted(webhook_events.response_submitted)
    sending.on_finished(webhook_events.RESULT_KINDS, webhook_events.mail_results)
    webhook_events.use_experiment_groups(experiments.open_groups)
    dashboard.mark_actions_from(actions.all_actions)
    sources.register(sources.Source(**feedback.analysis_source()))


def _configure(app: Flask, test_config: dict | None) -> None:
    app.config.from_object(karn_config.Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(karn_config.from_environment())
    if test_config:
        app.config.update(test_config)

    env = app.config["ENV"]
    if env not in ("production", "development", "testing"):
        raise RuntimeError(
            f"KARN_ENV must be production, development or testing: {env}"
        )
    if not app.config.get("SECRET_KEY"):
        if env == "production":
            raise RuntimeError(
                "Karn will not start in production without a secret key: set "
                "KARN_SECRET_KEY (or SECRET_KEY in instance/config.py) to a long "
                "random value, e.g. the output of "
                "python -c 'import secrets; print(secrets.token_hex(32))'."
            )
        app.config["SECRET_KEY"] = secrets.token_hex(32)
    app.config["TESTING"] = env == "testing" or app.config.get("TESTING", False)
    if not app.config.get("BASE_URL"):
        bind = os.environ.get("KARN_BIND")
        app.config["BASE_URL"] = karn_config.base_url_from_bind(bind)

    url = app.config.get("DATABASE_URL")
    if not url:
        os.makedirs(app.instance_path, exist_ok=True)
        url = "sqlite:///" + os.path.join(app.instance_path, "karn.db")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
    if not url.startswith("sqlite"):
        options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
        if "+psycopg" in url:
            # psycopg prepares a statement after five runs; PostgreSQL may then
            # settle on a generic plan, which for the large IN lists of batch
            # imports is a sequential scan. Karn prepares only the statements
            # marked with karn.extensions.prepared (None would rule those out
            # too), and plans every other statement afresh.
            options.setdefault("connect_args", {}).setdefault(
                "prepare_threshold", NEVER_PREPARE_BY_COUNT
            )

    https = app.config["BASE_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=https,
        REMEMBER_COOKIE_DURATION=timedelta(days=app.config["REMEMBER_COOKIE_DAYS"]),
        PREFERRED_URL_SCHEME="https" if https else "http",
        BABEL_DEFAULT_LOCALE=app.config["DEFAULT_LANGUAGE"],
        BABEL_DEFAULT_TIMEZONE=app.config["TIMEZONE"],
        BABEL_TRANSLATION_DIRECTORIES="translations",
        RATELIMIT_HEADERS_ENABLED=True,
        WTF_CSRF_TIME_LIMIT=None,
    )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    # WAL lets the worker write while pages read; SQLite leaves foreign keys
    # off unless asked on every connection.
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


@event.listens_for(Engine, "do_execute")
def _execute_prepared(cursor, statement, parameters, context):
    # Statements marked with karn.extensions.prepared: psycopg prepares them
    # on the connection at first use and runs the prepared plan afterwards.
    if context.dialect.driver == "psycopg" and context.execution_options.get(PREPARED):
        cursor.execute(statement, parameters, prepare=True)
        return True
    return None


def _check_idle_connections(engine) -> None:
    """Make sure a pooled connection still works before a request gets it.

    Only connections unused for a while are tried (one round trip): one in
    steady use has just worked, and trying it on every request would cost a
    busy server a tenth of its time. A connection that fails the try is
    replaced, so a restarted database server costs no request an error.
    """
    if engine.dialect.name == "sqlite":
        return  # a file: nothing to lose between requests

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection, record):
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _returned(dbapi_connection, record):
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _try_if_idle(dbapi_connection, record, proxy):
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned < IDLE_BEFORE_TRY_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as e:
            raise DisconnectionError() from e  # the pool connects afresh


def select_language() -> str:
    """Pick the page language: the visitor's choice, their account, the browser."""
    from flask import current_app

    if not has_request_context():
        return current_app.config["DEFAULT_LANGUAGE"]  # commands and the worker
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    if g.get("respondent_language") in LANGUAGES:
        return g.respondent_language
    if current_user and current_user.is_authenticated:
        return current_user.language.value
    return (
        request.accept_languages.best_match(LANGUAGES)
        or current_app.config["DEFAULT_LANGUAGE"]
    )


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def _language_from_query():
        # ?lang=nl on any page switches the language and remembers it.
        lang = request.args.get("lang")
        if lang in LANGUAGES:
            session["lang"] = lang

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; "
            "script-src 'self'; object-src 'none'; base-uri 'self'; "
            "form-action 'self'; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Language", str(get_locale()))
        if request.is_secure:
            # Over HTTPS (also as a proxy in front says, see PROXY_COUNT): the
            # browser uses HTTPS only for this host from now on.
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={HSTS_SECONDS}"
            )
        if request.endpoint != "static" and (
            request.blueprint in PERSONAL_LINK_BLUEPRINTS
            or current_user.is_authenticated
        ):
            # Pages for a signed-in user, a respondent's pages reached by a
            # personal link, and API answers stay out of browser and proxy caches.
            if "no-store" not in response.headers.get("Cache-Control", ""):
                response.headers["Cache-Control"] = "private, no-store"
        vary = response.headers.get("Vary", "")
        if "Accept-Language" not in vary:
            response.headers["Vary"] = ", ".join(
                v for v in (vary, "Accept-Language", "Cookie") if v
            )
        return response

    def _paused_domains() -> list[str]:
        from karn.surveys import deliverability

        return deliverability.paused_domains()

    def _disabled_webhooks() -> list:
        from karn.webhooks.views import disabled_endpoints

        return disabled_endpoints()

    @app.context_processor
    def _template_globals():
        return {
            "current_language": str(get_locale()),
            "languages": LANGUAGES,
            "company_name": app.config["COMPANY_NAME"],
            "paused_domains": _paused_domains,
            "disabled_webhooks": _disabled_webhooks,
        }

    @app.teardown_request
    def _forget_request_state(exc):
        g.pop("audit_user", None)


def _register_error_pages(app: Flask) -> None:
    def render_error(error: HTTPException):
        code = error.code or 500
        if request.path.startswith(("/api/", "/webhooks/")):
            return {"error": error.name, "message": error.description}, code
        known = code in (400, 403, 404, 429)
        template = f"errors/{code}.html" if known else "errors/other.html"
        return render_template(template, error=error), code

    for code in (400, 403, 404, 405, 413, 429):
        app.register_error_handler(code, render_error)

    @app.errorhandler(500)
    def _server_error(error):
        db.session.rollback()
        if request.path.startswith(("/api/", "/webhooks/")):
            return {"error": "Internal Server Error"}, 500
        return render_template("errors/500.html"), 500
