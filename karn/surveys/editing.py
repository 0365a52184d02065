"""Creating surveys and publishing their versions (versions never change)."""

import secrets

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from karn.accounts import audit
from karn.extensions import db
from karn.settings import Setting
from karn.surveys import default_survey, definition
from karn.surveys.models import Survey, SurveyVersion


class PublishError(ValueError):
    """A version that cannot be published; the messages say why."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def ensure_default_survey() -> tuple[Survey, bool]:
    """The first survey, created with the default questions when there is none."""
    survey = db.session.scalar(sa.select(Survey).order_by(Survey.id).limit(1))
    if survey is not None:
        return survey, False
    survey = Survey(name=str(_l("Exit survey")), public_token=secrets.token_urlsafe(16))
    db.session.add(survey)
    db.session.flush()
    publish(survey, default_survey.default_questions(), user=None)
    return survey, True


def publish(survey: Survey, questions: list[dict], user=None) -> SurveyVersion:
    """Publish questions as the survey's next version, after checking them."""
    problems = definition.validate_definition(questions)
    if problems:
        raise PublishError(problems)
    number = (
        db.session.scalar(
            sa.select(sa.func.max(SurveyVersion.number)).where(
                SurveyVersion.survey_id == survey.id
            )
        )
        or 0
    ) + 1
    version = SurveyVersion(
        survey_id=survey.id,
        number=number,
        questions=questions,
        published_by_id=getattr(user, "id", None),
    )
    db.session.add(version)
    db.session.flush()
    audit.record("survey.publish", version, user=user, number=number)
    return version


def default_update(survey: Survey) -> SurveyVersion | None:
    """The survey's newest version when the default survey's newest edition may
    replace it: it is an earlier edition, unedited, and no draft is waiting.

    A survey someone edited is never offered the update, so nothing they
    changed is lost.
    """
    if survey.draft is not None:
        return None
    latest = db.session.scalar(
        sa.select(SurveyVersion)
        .where(SurveyVersion.survey_id == survey.id)
        .order_by(SurveyVersion.number.desc())
        .limit(1)
    )
    if latest is None or latest.questions not in default_survey.earlier_editions():
        return None
    return latest


def apply_default_update(survey: Survey, user=None) -> SurveyVersion | None:
    """Publish the default survey's newest edition as the survey's next version,
    when it is offered (``default_update``); None when it is not."""
    if default_update(survey) is None:
        return None
    return publish(survey, default_survey.default_questions(), user=user)


# Kept in the settings table: the default survey's edition whose notice an
# administrator or manager put away, for the whole install.
DISMISSED_EDITION = "dismissed.default_edition"


def newest_edition() -> int:
    """The number of the default survey's newest edition (the first is 1)."""
    return len(default_survey.earlier_editions()) + 1


def update_notice_dismissed() -> bool:
    """Whether the notice of the newest edition was put away. A later edition
    brings a notice of its own."""
    row = db.session.get(Setting, DISMISSED_EDITION)
    return row is not None and row.value == newest_edition()


def dismiss_update_notice(user=None) -> None:
    """Put the notice of the newest edition away for everyone; the update itself
    stays on the surveys page. The caller commits."""
    edition = newest_edition()
    row = db.session.get(Setting, DISMISSED_EDITION)
    if row is None:
        db.session.add(
            Setting(
                key=DISMISSED_EDITION,
                value=edition,
                updated_by_id=getattr(user, "id", None),
            )
        )
    elif row.value == edition:
        return
    else:
        row.value, row.updated_by_id = edition, getattr(user, "id", None)
    audit.record("survey.default_update_dismissed", user=user, edition=edition)
