"""targets directory: institutions and their contact channels

Revision ID: 0003_targets
Revises: 0002_cases
Create Date: 2026-11-25 19:00:00

"""
from alembic import op
import sqlalchemy as sa

import campaign.db


# revision identifiers, used by Alembic.
revision = '0003_targets'
down_revision = '0002_cases'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('institution', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('name_en', sa.String(length=300), nullable=False),
    sa.Column('name_ru', sa.String(length=300), nullable=True),
    sa.Column('name_tg', sa.String(length=300), nullable=True),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('letter_policy', sa.String(length=24), nullable=False),
    sa.Column('accepts', sa.JSON(), nullable=False),
    sa.Column('requires_consent', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('letters_per_hour', sa.Integer(), nullable=True),
    sa.Column('office_start', sa.Time(), nullable=True),
    sa.Column('office_end', sa.Time(), nullable=True),
    sa.Column('office_days', sa.JSON(), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_targets')),
    sa.UniqueConstraint('key', name=op.f('uq_targets_key')),
    sa.UniqueConstraint('public_id', name=op.f('uq_targets_public_id'))
    )
    op.create_table('target_channels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=500), nullable=False),
    sa.Column('source_url', sa.String(length=500), nullable=True),
    sa.Column('source_quality', sa.String(length=20), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failure_note', sa.String(length=500), nullable=True),
    sa.Column('failed_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('retired_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_target_channels_target_id_targets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['organisers.id'], name=op.f('fk_target_channels_verified_by_id_organisers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_channels')),
    sa.UniqueConstraint('public_id', name=op.f('uq_target_channels_public_id'))
    )
    with op.batch_alter_table('target_channels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_target_channels_target_id'), ['target_id'], unique=False)


def downgrade():
    with op.batch_alter_table('target_channels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_target_channels_target_id'))

    op.drop_table('target_channels')
    op.drop_table('targets')
