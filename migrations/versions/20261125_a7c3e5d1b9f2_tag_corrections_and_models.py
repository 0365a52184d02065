"""Tag corrections and trained tag models.

tag_corrections keeps every correction of an answer's or a call note's
sentiment or reason tag: labels only (before and after), who and when, never
the text. tag_models holds the reason models trained by `flask analysis train`,
versioned, with their training counts, held-out evaluation and the model as
JSON; at most one per task is active (none: the shipped model, version 0).

Revision ID: a7c3e5d1b9f2
Revises: ff36a91d22a3
Create Date: 2026-11-25 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = 'a7c3e5d1b9f2'
down_revision = 'ff36a91d22a3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('tag_models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('examples', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.CheckConstraint("task IN ('reason', 'sentiment')", name=op.f('ck_tag_models_task_known')),
    sa.CheckConstraint('version >= 1', name=op.f('ck_tag_models_version_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag_models')),
    sa.UniqueConstraint('task', 'version', name='uq_tag_models_task_version')
    )
    with op.batch_alter_table('tag_models', schema=None) as batch_op:
        batch_op.create_index('uq_tag_models_active', ['task'], unique=True, sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))

    op.create_table('tag_corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('answer_id', sa.Integer(), nullable=True),
    sa.Column('note_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('old_sentiment', sa.Enum('negative', 'neutral', 'positive', name='old_sentiment', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('new_sentiment', sa.Enum('negative', 'neutral', 'positive', name='new_sentiment', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('old_score', sa.Double(), nullable=True),
    sa.Column('old_reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='old_reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('new_reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='new_reason', native_enum=False, create_constraint=True), nullable=True),
    sa.CheckConstraint('(answer_id IS NULL) <> (note_id IS NULL)', name=op.f('ck_tag_corrections_one_target')),
    sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], name=op.f('fk_tag_corrections_answer_id_answers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['note_id'], ['call_notes.id'], name=op.f('fk_tag_corrections_note_id_call_notes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_tag_corrections_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tag_corrections'))
    )
    with op.batch_alter_table('tag_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tag_corrections_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_tag_corrections_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_tag_corrections_note_id'), ['note_id'], unique=False)


def downgrade():
    with op.batch_alter_table('tag_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tag_corrections_note_id'))
        batch_op.drop_index(batch_op.f('ix_tag_corrections_created_at'))
        batch_op.drop_index(batch_op.f('ix_tag_corrections_answer_id'))

    op.drop_table('tag_corrections')
    with op.batch_alter_table('tag_models', schema=None) as batch_op:
        batch_op.drop_index('uq_tag_models_active', sqlite_where=sa.text('active'), postgresql_where=sa.text('active'))

    op.drop_table('tag_models')
