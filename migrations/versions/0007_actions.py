"""actions: letter-writing actions, volunteers' letters, deliveries, digests, schedules

Revision ID: 0007_actions
Revises: 0006_alerts
Create Date: 2026-11-25 21:00:00

"""
from alembic import op
import sqlalchemy as sa

import campaign.db


revision = '0007_actions'
down_revision = '0006_alerts'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('goal', sa.Integer(), nullable=True),
    sa.Column('opens_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closes_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reduced_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actions')),
    sa.UniqueConstraint('public_id', name=op.f('uq_actions_public_id')),
    sa.UniqueConstraint('slug', name=op.f('uq_actions_slug'))
    )
    op.create_table('action_tallies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_action_tallies_action_id_actions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_action_tallies_target_id_targets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_tallies'))
    )
    with op.batch_alter_table('action_tallies', schema=None) as batch_op:
        batch_op.create_index('ix_action_tallies_action', ['action_id', 'day'], unique=False)

    op.create_table('action_targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('digest_period', sa.String(length=8), nullable=True),
    sa.Column('letter_locale', sa.String(length=5), nullable=True),
    sa.Column('reply_date', sa.Date(), nullable=True),
    sa.Column('reply_reference', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_action_targets_action_id_actions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_action_targets_target_id_targets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_targets')),
    sa.UniqueConstraint('action_id', 'target_id', name=op.f('uq_action_targets_action_id_target_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_action_targets_public_id'))
    )
    with op.batch_alter_table('action_targets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_targets_target_id'), ['target_id'], unique=False)

    op.create_table('action_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('introduction', sa.Text(), nullable=False),
    sa.Column('introduction_html', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_action_texts_action_id_actions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_texts')),
    sa.UniqueConstraint('action_id', 'locale', name=op.f('uq_action_texts_action_id_locale'))
    )
    op.create_table('action_variants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_action_variants_action_id_actions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_variants')),
    sa.UniqueConstraint('action_id', 'locale', 'position', name=op.f('uq_action_variants_action_id_locale_position'))
    )
    op.create_table('letter_schedules',
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('next_free_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_letter_schedules_target_id_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('target_id', name=op.f('pk_letter_schedules'))
    )
    op.create_table('letters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('fold_index', sa.LargeBinary(length=32), nullable=False),
    sa.Column('email_enc', sa.LargeBinary(), nullable=False),
    sa.Column('person_enc', sa.LargeBinary(), nullable=False),
    sa.Column('content_enc', sa.LargeBinary(), nullable=False),
    sa.Column('target_ids', sa.JSON(), nullable=False),
    sa.Column('reply_ok', sa.Boolean(), nullable=False),
    sa.Column('wants_alerts', sa.Boolean(), nullable=False),
    sa.Column('confirm_nonce', sa.String(length=32), nullable=True),
    sa.Column('confirm_sent_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_letters_action_id_actions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letters')),
    sa.UniqueConstraint('action_id', 'fold_index', name=op.f('uq_letters_action_id_fold_index')),
    sa.UniqueConstraint('public_id', name=op.f('uq_letters_public_id'))
    )
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letters_action_id'), ['action_id'], unique=False)
        batch_op.create_index('ix_letters_status_created', ['status', 'created_at'], unique=False)

    op.create_table('action_cases',
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_action_cases_action_id_actions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_action_cases_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('action_id', 'case_id', name=op.f('pk_action_cases'))
    )
    op.create_table('action_digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('action_target_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=8), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('signer_count', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=340), nullable=False),
    sa.Column('body_enc', sa.LargeBinary(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('sent_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['actions.id'], name=op.f('fk_action_digests_action_id_actions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['action_target_id'], ['action_targets.id'], name=op.f('fk_action_digests_action_target_id_action_targets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['approved_by_id'], ['organisers.id'], name=op.f('fk_action_digests_approved_by_id_organisers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['message_id'], ['outgoing_messages.id'], name=op.f('fk_action_digests_message_id_outgoing_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_action_digests_target_id_targets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_digests')),
    sa.UniqueConstraint('action_target_id', 'period_start', name=op.f('uq_action_digests_action_target_id_period_start')),
    sa.UniqueConstraint('public_id', name=op.f('uq_action_digests_public_id'))
    )
    with op.batch_alter_table('action_digests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_action_digests_action_id'), ['action_id'], unique=False)

    op.create_table('letter_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('letter_id', sa.Integer(), nullable=False),
    sa.Column('action_target_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('mode', sa.String(length=16), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('next_attempt_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_until', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempted_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('digest_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('sent_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['action_target_id'], ['action_targets.id'], name=op.f('fk_letter_deliveries_action_target_id_action_targets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['digest_id'], ['action_digests.id'], name=op.f('fk_letter_deliveries_digest_id_action_digests'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['letter_id'], ['letters.id'], name=op.f('fk_letter_deliveries_letter_id_letters'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['outgoing_messages.id'], name=op.f('fk_letter_deliveries_message_id_outgoing_messages'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_letter_deliveries_target_id_targets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_deliveries')),
    sa.UniqueConstraint('letter_id', 'target_id', name=op.f('uq_letter_deliveries_letter_id_target_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_letter_deliveries_public_id'))
    )
    with op.batch_alter_table('letter_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_deliveries_action_target_id'), ['action_target_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_letter_deliveries_digest_id'), ['digest_id'], unique=False)
        batch_op.create_index('ix_letter_deliveries_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_letter_deliveries_target_attempted', ['target_id', 'attempted_at'], unique=False)


def downgrade():
    with op.batch_alter_table('letter_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_letter_deliveries_target_attempted')
        batch_op.drop_index('ix_letter_deliveries_due')
        batch_op.drop_index(batch_op.f('ix_letter_deliveries_digest_id'))
        batch_op.drop_index(batch_op.f('ix_letter_deliveries_action_target_id'))

    op.drop_table('letter_deliveries')
    with op.batch_alter_table('action_digests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_digests_action_id'))

    op.drop_table('action_digests')
    op.drop_table('action_cases')
    with op.batch_alter_table('letters', schema=None) as batch_op:
        batch_op.drop_index('ix_letters_status_created')
        batch_op.drop_index(batch_op.f('ix_letters_action_id'))

    op.drop_table('letters')
    op.drop_table('letter_schedules')
    op.drop_table('action_variants')
    op.drop_table('action_texts')
    with op.batch_alter_table('action_targets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_action_targets_target_id'))

    op.drop_table('action_targets')
    with op.batch_alter_table('action_tallies', schema=None) as batch_op:
        batch_op.drop_index('ix_action_tallies_action')

    op.drop_table('action_tallies')
    op.drop_table('actions')
