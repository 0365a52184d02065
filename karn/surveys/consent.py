"""Whether a respondent may be contacted again about their answers.

The default survey asks it in the question ``contact_consent`` with the options
``yes`` and ``no`` (``karn.surveys.default_survey.consent_question``). Survey
versions published before that question existed never asked it: their
responses give None, "not asked", as do responses that left it unanswered or
were never submitted. Only an explicit "yes" on a submitted response counts as
consent.
"""

import sqlalchemy as sa

from karn.surveys.default_survey import CONSENT_KEY, CONSENT_NO, CONSENT_YES
from karn.surveys.models import Answer, Response

__all__ = ["CONSENT_KEY", "contact_consent", "consented", "consenting_responses"]


def contact_consent(response: Response) -> bool | None:
    """True for "yes", False for "no", None when not asked or not answered."""
    if response.submitted_at is None:
        return None
    for answer in response.answers:
        if answer.question_key == CONSENT_KEY:
            if answer.value == CONSENT_YES:
                return True
            if answer.value == CONSENT_NO:
                return False
    return None


def _json_text(value: str) -> str:
    # Answer.value is JSON: a stored code is its JSON text, quotes included,
    # on SQLite and on PostgreSQL (json keeps the text it was given).
    return f'"{value}"'


def consented() -> sa.ColumnElement[bool]:
    """A condition on ``Response``: submitted, with consent given.

    For a query's WHERE, e.g. ``select(Response).where(consented())``.
    """
    return sa.and_(
        Response.submitted_at.is_not(None),
        sa.exists().where(
            Answer.response_id == Response.id,
            Answer.question_key == CONSENT_KEY,
            sa.cast(Answer.value, sa.Text) == _json_text(CONSENT_YES),
        ),
    )


def consenting_responses() -> sa.Select:
    """The ids of submitted responses whose respondents said yes."""
    return sa.select(Response.id).where(consented())
