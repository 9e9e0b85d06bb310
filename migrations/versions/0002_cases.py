"""cases: people, texts per language, sources, timeline, case updates

Revision ID: 0002_cases
Revises: 0001_foundation
Create Date: 2026-11-25 19:05:00.000000

"""
from alembic import op
import sqlalchemy as sa

import campaign.db


# revision identifiers, used by Alembic.
revision = '0002_cases'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None

STATUSES = "status IN ('detained', 'sentenced', 'released', 'died_in_custody', 'disappeared')"


def upgrade():
    op.create_table('cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('name_tg', sa.String(length=200), nullable=False),
    sa.Column('name_ru', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('aliases', sa.Text(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('consent_given', sa.Boolean(), nullable=False),
    sa.Column('consent_recorded_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('consent_recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('consent_note', sa.String(length=500), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint(STATUSES, name=op.f('ck_cases_status')),
    sa.ForeignKeyConstraint(['consent_recorded_by_id'], ['organisers.id'], name=op.f('fk_cases_consent_recorded_by_id_organisers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases')),
    sa.UniqueConstraint('public_id', name=op.f('uq_cases_public_id'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_published'), ['published'], unique=False)

    op.create_table('case_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('summary_html', sa.Text(), nullable=False),
    sa.Column('detention_place', sa.Text(), nullable=False),
    sa.Column('charges', sa.Text(), nullable=False),
    sa.Column('sentence', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_texts_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_texts')),
    sa.UniqueConstraint('case_id', 'locale', name=op.f('uq_case_texts_case_id_locale'))
    )
    op.create_table('case_sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_sources_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_sources'))
    )
    with op.batch_alter_table('case_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_sources_case_id'), ['case_id'], unique=False)

    op.create_table('case_timeline_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.CheckConstraint(STATUSES, name=op.f('ck_case_timeline_entries_status')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_timeline_entries_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_timeline_entries')),
    sa.UniqueConstraint('public_id', name=op.f('uq_case_timeline_entries_public_id'))
    )
    with op.batch_alter_table('case_timeline_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_timeline_entries_case_id'), ['case_id'], unique=False)

    op.create_table('case_updates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('published', sa.Boolean(), nullable=False),
    sa.Column('published_at', campaign.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', campaign.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_updates_case_id_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_updates')),
    sa.UniqueConstraint('public_id', name=op.f('uq_case_updates_public_id'))
    )
    with op.batch_alter_table('case_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_case_updates_case_id'), ['case_id'], unique=False)

    op.create_table('case_update_texts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('update_id', sa.Integer(), nullable=False),
    sa.Column('locale', sa.String(length=5), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('body_html', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['update_id'], ['case_updates.id'], name=op.f('fk_case_update_texts_update_id_case_updates'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_update_texts')),
    sa.UniqueConstraint('update_id', 'locale', name=op.f('uq_case_update_texts_update_id_locale'))
    )


def downgrade():
    op.drop_table('case_update_texts')
    with op.batch_alter_table('case_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_updates_case_id'))

    op.drop_table('case_updates')
    with op.batch_alter_table('case_timeline_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_timeline_entries_case_id'))

    op.drop_table('case_timeline_entries')
    with op.batch_alter_table('case_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_sources_case_id'))

    op.drop_table('case_sources')
    op.drop_table('case_texts')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_published'))

    op.drop_table('cases')
