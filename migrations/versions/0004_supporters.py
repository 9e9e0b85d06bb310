"""supporters: subscribers, follows, consents, history, suppression list, daily slots

Revision ID: 0004_supporters
Revises: 0003_targets
Create Date: 2026-11-25 19:30:00

"""
from alembic import op
import sqlalchemy as sa

import campaign.db


revision = '0004_supporters'
down_revision = '0003_targets'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('email_enc', sa.LargeBinary(), nullable=False),
    sa.Column('email_index', sa.LargeBinary(length=32), nullable=False),
    sa.Column('fold_index', sa.LargeBinary(length=32), nullable=False),
    sa.Column('name_enc', sa.LargeBinary(), nullable=True),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('all_alerts', sa.Boolean(), nullable=False),
    sa.Column('discreet', sa.Boolean(), nullable=False),
    sa.Column('confirm_nonce', sa.String(length=32), nullable=True),
    sa.Column('pending_email_enc', sa.LargeBinary(), nullable=True),
    sa.Column('pending_email_index', sa.LargeBinary(length=32), nullable=True),
    sa.Column('link_version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribers')),
    sa.UniqueConstraint('email_index', name=op.f('uq_subscribers_email_index')),
    sa.UniqueConstraint('public_id', name=op.f('uq_subscribers_public_id'))
    )
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscribers_fold_index'), ['fold_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscribers_status'), ['status'], unique=False)

    op.create_table('subscriber_follows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_subscriber_follows_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_subscriber_follows_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_follows')),
    sa.UniqueConstraint('subscriber_id', 'case_id', name=op.f('uq_subscriber_follows_subscriber_id_case_id'))
    )
    with op.batch_alter_table('subscriber_follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriber_follows_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscriber_follows_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=True),
    sa.Column('at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('form', sa.String(length=32), nullable=False),
    sa.Column('text_version', sa.String(length=32), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('confirmed_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_consents_subscriber_id_subscribers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('subscriber_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_subscriber_events_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber_events'))
    )
    with op.batch_alter_table('subscriber_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscriber_events_subscriber_id'), ['subscriber_id'], unique=False)

    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email_index', sa.LargeBinary(length=32), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    sa.UniqueConstraint('email_index', name=op.f('uq_suppressions_email_index'))
    )

    op.create_table('confirmation_slots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('fold_index', sa.LargeBinary(length=32), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_confirmation_slots')),
    sa.UniqueConstraint('fold_index', 'day', 'purpose', name=op.f('uq_confirmation_slots_fold_index_day_purpose'))
    )


def downgrade():
    op.drop_table('confirmation_slots')
    op.drop_table('suppressions')
    with op.batch_alter_table('subscriber_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriber_events_subscriber_id'))
    op.drop_table('subscriber_events')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_subscriber_id'))
    op.drop_table('consents')
    with op.batch_alter_table('subscriber_follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscriber_follows_subscriber_id'))
        batch_op.drop_index(batch_op.f('ix_subscriber_follows_case_id'))
    op.drop_table('subscriber_follows')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscribers_status'))
        batch_op.drop_index(batch_op.f('ix_subscribers_fold_index'))
    op.drop_table('subscribers')
