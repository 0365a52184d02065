"""Survey branding: a company logo and colour, and the consent question's survey update.

One new table, `branding`: the company's colour and logo (PNG or JPEG, at most
200 KB, kept in the database and served by Karn itself), one row once an
administrator saves them. It starts empty, so existing installs look as before
until an administrator sets a logo or colour.

Surveys themselves are not changed here. The default survey's second edition
(a text box under "other" and the question `contact_consent`) is offered on
the Surveys page to installs whose survey is still an unedited earlier edition;
publishing it is the administrator's choice. Downgrading drops the table and the
logo and colour in it.

Revision ID: c3a1d7e5f902
Revises: 4b7e1f9c2a63
Create Date: 2026-12-12 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "c3a1d7e5f902"
down_revision = "4b7e1f9c2a63"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "branding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("colour", sa.String(length=7), nullable=True),
        sa.Column("logo", sa.LargeBinary(), nullable=True),
        sa.Column("logo_type", sa.String(length=20), nullable=True),
        sa.Column("logo_sha", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
            name=op.f("fk_branding_updated_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branding")),
    )


def downgrade():
    op.drop_table("branding")
