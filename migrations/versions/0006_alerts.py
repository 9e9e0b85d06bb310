"""alerts: alerts, their texts per language, audience cases, the delivery ledger

Revision ID: 0006_alerts
Revises: 0005_accounts
Create Date: 2026-11-25 20:00:00

"""
from alembic import op
import sqlalchemy as sa

import campaign.db


revision = '0006_alerts'
down_revision = '0005_accounts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('languages', sa.String(length=32), nullable=False),
    sa.Column('missing_rule', sa.String(length=16), nullable=False),
    sa.Column('scheduled_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('pause_reason', sa.String(length=500), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('requested_by', sa.Integer(), nullable=True),
    sa.Column('approved_by', sa.Integer(), nullable=True),
    sa.Column('sent_by', sa.Integer(), nullable=True),
    sa.Column('fanout_cursor', sa.Integer(), nullable=False),
    sa.Column('fanout_done', sa.Boolean(), nullable=False),
    sa.Column('fanout_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('possible_duplicates', sa.Integer(), nullable=False),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['approved_by'], ['organisers.id'], name=op.f('fk_alerts_approved_by_organisers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_alerts_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['organisers.id'], name=op.f('fk_alerts_created_by_organisers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['requested_by'], ['organisers.id'], name=op.f('fk_alerts_requested_by_organisers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sent_by'], ['organisers.id'], name=op.f('fk_alerts_sent_by_organisers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('public_id', name=op.f('uq_alerts_public_id'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_status'), ['status'], unique=False)

    op.create_table('alert_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_cases_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_alert_cases_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_cases')),
    sa.UniqueConstraint('alert_id', 'case_id', name=op.f('uq_alert_cases_alert_id_case_id'))
    )
    with op.batch_alter_table('alert_cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_cases_case_id'), ['case_id'], unique=False)

    op.create_table('alert_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_code', sa.Integer(), nullable=True),
    sa.Column('last_reply', sa.String(length=500), nullable=True),
    sa.Column('error', sa.String(length=16), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_deliveries_alert_id_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_alert_deliveries_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries')),
    sa.UniqueConstraint('alert_id', 'subscriber_id', name=op.f('uq_alert_deliveries_alert_id_subscriber_id'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_alert_deliveries_alert_status', ['alert_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_deliveries_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('alert_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('preheader', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_texts_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_texts')),
    sa.UniqueConstraint('alert_id', 'locale', name=op.f('uq_alert_texts_alert_id_locale'))
    )


def downgrade():
    op.drop_table('alert_texts')
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_subscriber_id'))
        batch_op.drop_index('ix_alert_deliveries_alert_status')

    op.drop_table('alert_deliveries')
    with op.batch_alter_table('alert_cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_cases_case_id'))

    op.drop_table('alert_cases')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_alerts_case_id'))

    op.drop_table('alerts')
