"""Initial schema.

Users, customers, surveys, invitations, outbox, responses, call-backs,
improvement actions, API keys, settings and the audit log.

Revision ID: f778d21850f7
Revises:
Create Date: 2026-11-24 23:08:50.574653

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f778d21850f7'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('language', sa.Enum('nl', 'en', name='language', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('departed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('plan', sa.String(length=100), nullable=True),
    sa.Column('segment', sa.String(length=100), nullable=True),
    sa.Column('region', sa.String(length=100), nullable=True),
    sa.Column('tenure_months', sa.Integer(), nullable=True),
    sa.Column('monthly_revenue', sa.BigInteger(), nullable=True),
    sa.Column('lifetime_value', sa.BigInteger(), nullable=True),
    sa.Column('source', sa.Enum('csv', 'api', 'stripe', 'manual', name='source', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('extra', sa.JSON(), nullable=False),
    sa.Column('stated_reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('stated_comment', sa.Text(), nullable=True),
    sa.Column('delivery_failures', sa.Integer(), nullable=False),
    sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('bounced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_customers_email_lower')),
    sa.CheckConstraint('external_id IS NOT NULL OR email IS NOT NULL OR erased_at IS NOT NULL', name=op.f('ck_customers_identified')),
    sa.CheckConstraint('lifetime_value >= 0', name=op.f('ck_customers_ltv_not_negative')),
    sa.CheckConstraint('monthly_revenue >= 0', name=op.f('ck_customers_revenue_not_negative')),
    sa.CheckConstraint('tenure_months >= 0', name=op.f('ck_customers_tenure_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('external_id', name=op.f('uq_customers_external_id'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_departed_at'), ['departed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_email'), ['email'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_plan'), ['plan'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_segment'), ['segment'], unique=False)

    op.create_table('surveys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_surveys'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.Enum('admin', 'manager', 'staff', name='role', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('language', sa.Enum('nl', 'en', name='language', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_users_email_lower')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_api_keys_created_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('improvement_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('ended_on IS NULL OR ended_on >= started_on', name=op.f('ck_improvement_actions_ends_after_start')),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_improvement_actions_owner_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_improvement_actions'))
    )
    with op.batch_alter_table('improvement_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_improvement_actions_reason'), ['reason'], unique=False)

    op.create_table('settings',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_settings_updated_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_settings'))
    )
    op.create_table('survey_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('number >= 1', name=op.f('ck_survey_versions_number_positive')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'], name=op.f('fk_survey_versions_published_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_survey_versions_survey_id_surveys'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_versions')),
    sa.UniqueConstraint('survey_id', 'number', name='uq_survey_versions_number')
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('api_key_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=64), nullable=True),
    sa.Column('target_id', sa.String(length=64), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_keys.id'], name=op.f('fk_audit_log_api_key_id_api_keys'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_log_target', ['target_type', 'target_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_user_id'), ['user_id'], unique=False)

    op.create_table('invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('survey_version_id', sa.Integer(), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=True),
    sa.Column('status', sa.Enum('scheduled', 'sent', 'reminded', 'responded', 'expired', 'unsubscribed', 'bounced', 'failed', 'cancelled', name='invitation_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('scheduled_for', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminders_sent', sa.Integer(), nullable=False),
    sa.Column('last_reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('reminders_sent >= 0', name=op.f('ck_invitations_reminders_not_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_invitations_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['surveys.id'], name=op.f('fk_invitations_survey_id_surveys')),
    sa.ForeignKeyConstraint(['survey_version_id'], ['survey_versions.id'], name=op.f('fk_invitations_survey_version_id_survey_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invitations')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_invitations_token_hash'))
    )
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invitations_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_invitations_status_scheduled', ['status', 'scheduled_for'], unique=False)
        batch_op.create_index('uq_invitations_open', ['customer_id', 'survey_id'], unique=True, sqlite_where=sa.text("status IN ('scheduled', 'sent', 'reminded')"), postgresql_where=sa.text("status IN ('scheduled', 'sent', 'reminded')"))

    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('to_address', sa.String(length=254), nullable=True),
    sa.Column('language', sa.Enum('nl', 'en', name='language', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=True),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('status', sa.Enum('held', 'pending', 'sending', 'sent', 'failed', 'cancelled', name='outbox_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handed_over_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_outbox_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_outbox_invitation_id_invitations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_outbox_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('message_id', name=op.f('uq_outbox_message_id'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_outbox_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_outbox_invitation_id'), ['invitation_id'], unique=False)
        batch_op.create_index('ix_outbox_status_due', ['status', 'due_at'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('survey_version_id', sa.Integer(), nullable=False),
    sa.Column('language', sa.Enum('nl', 'en', name='language', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('primary_reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('invitation', 'anonymous')", name=op.f('ck_responses_channel_known')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_responses_customer_id_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['invitation_id'], ['invitations.id'], name=op.f('fk_responses_invitation_id_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_version_id'], ['survey_versions.id'], name=op.f('fk_responses_survey_version_id_survey_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses')),
    sa.UniqueConstraint('invitation_id', name=op.f('uq_responses_invitation_id'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_primary_reason'), ['primary_reason'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_submitted_at'), ['submitted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_survey_version_id'), ['survey_version_id'], unique=False)

    op.create_table('answers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('question_key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('sentiment', sa.Enum('negative', 'neutral', 'positive', name='sentiment', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('sentiment_score', sa.Double(), nullable=True),
    sa.Column('tag_reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=True),
    sa.Column('tagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('sentiment_score IS NULL OR sentiment_score BETWEEN -1 AND 1', name=op.f('ck_answers_score_in_range')),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_answers_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers')),
    sa.UniqueConstraint('response_id', 'question_key', name='uq_answers_response_question')
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index('ix_answers_tag_reason', ['tag_reason', 'sentiment'], unique=False)

    op.create_table('call_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('response_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.Enum('requested', 'high_value', 'selection', 'manual', name='call_task_source', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('open', 'done', 'closed', name='call_task_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('phone', sa.String(length=50), nullable=True),
    sa.Column('preferred_time', sa.String(length=200), nullable=True),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_call_tasks_attempts_not_negative')),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['users.id'], name=op.f('fk_call_tasks_assigned_to_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_call_tasks_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_call_tasks_response_id_responses'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_tasks'))
    )
    with op.batch_alter_table('call_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_tasks_assigned_to_id'), ['assigned_to_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_tasks_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_call_tasks_queue', ['status', 'priority', 'due_at'], unique=False)

    op.create_table('response_reasons',
    sa.Column('response_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('is_primary', sa.Boolean(), nullable=False),
    sa.Column('is_secondary', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['response_id'], ['responses.id'], name=op.f('fk_response_reasons_response_id_responses'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('response_id', 'reason', name=op.f('pk_response_reasons'))
    )
    with op.batch_alter_table('response_reasons', schema=None) as batch_op:
        batch_op.create_index('ix_response_reasons_reason', ['reason', 'is_primary'], unique=False)

    op.create_table('call_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.Enum('reached', 'no_answer', 'voicemail', 'wrong_number', 'declined', 'will_return', name='outcome', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('language', sa.Enum('nl', 'en', name='language', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('follow_up_on', sa.Date(), nullable=True),
    sa.Column('sentiment', sa.Enum('negative', 'neutral', 'positive', name='sentiment', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('sentiment_score', sa.Double(), nullable=True),
    sa.Column('tag_reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=True),
    sa.Column('tagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_call_notes_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_call_notes_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['task_id'], ['call_tasks.id'], name=op.f('fk_call_notes_task_id_call_tasks'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_notes'))
    )
    with op.batch_alter_table('call_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_notes_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_notes_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_notes_task_id'), ['task_id'], unique=False)

    op.create_table('call_note_reasons',
    sa.Column('note_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Enum('service', 'quality', 'brand', 'price', 'need', 'other', name='reason', native_enum=False, create_constraint=True), nullable=False),
    sa.ForeignKeyConstraint(['note_id'], ['call_notes.id'], name=op.f('fk_call_note_reasons_note_id_call_notes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('note_id', 'reason', name=op.f('pk_call_note_reasons'))
    )
    with op.batch_alter_table('call_note_reasons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_note_reasons_reason'), ['reason'], unique=False)



def downgrade():
    with op.batch_alter_table('call_note_reasons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_note_reasons_reason'))

    op.drop_table('call_note_reasons')
    with op.batch_alter_table('call_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_call_notes_task_id'))
        batch_op.drop_index(batch_op.f('ix_call_notes_customer_id'))
        batch_op.drop_index(batch_op.f('ix_call_notes_created_at'))

    op.drop_table('call_notes')
    with op.batch_alter_table('response_reasons', schema=None) as batch_op:
        batch_op.drop_index('ix_response_reasons_reason')

    op.drop_table('response_reasons')
    with op.batch_alter_table('call_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_call_tasks_queue')
        batch_op.drop_index(batch_op.f('ix_call_tasks_customer_id'))
        batch_op.drop_index(batch_op.f('ix_call_tasks_assigned_to_id'))

    op.drop_table('call_tasks')
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_tag_reason')

    op.drop_table('answers')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_survey_version_id'))
        batch_op.drop_index(batch_op.f('ix_responses_submitted_at'))
        batch_op.drop_index(batch_op.f('ix_responses_primary_reason'))
        batch_op.drop_index(batch_op.f('ix_responses_customer_id'))

    op.drop_table('responses')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_due')
        batch_op.drop_index(batch_op.f('ix_outbox_invitation_id'))
        batch_op.drop_index(batch_op.f('ix_outbox_customer_id'))

    op.drop_table('outbox')
    with op.batch_alter_table('invitations', schema=None) as batch_op:
        batch_op.drop_index('uq_invitations_open', sqlite_where=sa.text("status IN ('scheduled', 'sent', 'reminded')"), postgresql_where=sa.text("status IN ('scheduled', 'sent', 'reminded')"))
        batch_op.drop_index('ix_invitations_status_scheduled')
        batch_op.drop_index(batch_op.f('ix_invitations_customer_id'))

    op.drop_table('invitations')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_user_id'))
        batch_op.drop_index('ix_audit_log_target')
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    op.drop_table('survey_versions')
    op.drop_table('settings')
    with op.batch_alter_table('improvement_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_improvement_actions_reason'))

    op.drop_table('improvement_actions')
    op.drop_table('api_keys')
    op.drop_table('users')
    op.drop_table('surveys')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_segment'))
        batch_op.drop_index(batch_op.f('ix_customers_region'))
        batch_op.drop_index(batch_op.f('ix_customers_plan'))
        batch_op.drop_index(batch_op.f('ix_customers_email'))
        batch_op.drop_index(batch_op.f('ix_customers_departed_at'))

    op.drop_table('customers')
