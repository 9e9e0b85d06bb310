"""Re-encrypting personal data under the newest of ``DATA_KEYS`` while the site runs.

Every encrypted column is listed in a registry: the model, the attribute holding the
ciphertext, and the table and column names bound into the ciphertext's associated data (see
``campaign.crypto``), with the attribute that holds the row id used there (``public_id``).
Features add their own columns with :func:`register`, e.g. in their ``cli.register(group)``
hook (which runs when the app is built)::

    keyrotation.register(Letter, "sender_email_enc", "sender_email", "letters")

``flask campaign rotate-data-key`` walks each column by primary key in batches, rewrites only
the values whose key id is not the newest (the 4-byte key id in the header is compared in
SQL, so current rows are not even fetched), and commits after each batch, so a running site is
held up by one short transaction at a time. An update only lands if the stored value is still
the one that was read (a value the site rewrote meanwhile is already under the newest key).
Running it again rewrites nothing. The blind indexes (``INDEX_KEY``) are untouched.

To rotate: put the new key first in ``DATA_KEYS`` (``new,old``), restart the web and the
workers, run the command until it reports nothing left, then drop the old key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import Table, bindparam, func, inspect, select

from campaign.crypto import DecryptionError, FieldCipher
from campaign.db import SessionLike

BATCH = 500


@dataclass(frozen=True)
class EncryptedColumn:
    model: type[Any]
    attribute: str  # the mapped attribute holding the ciphertext, e.g. "email_enc"
    column_name: str  # the column name bound into the associated data, e.g. "email"
    table_name: str  # the table name bound into the associated data, e.g. "subscribers"
    row_attribute: str = "public_id"  # the attribute whose value is the row in the AAD

    @property
    def label(self) -> str:
        return f"{self.table_name}.{self.column_name}"


_REGISTRY: dict[tuple[type[Any], str], EncryptedColumn] = {}


def register(model: type[Any], attribute: str, column_name: str, table_name: str, *,
             row_attribute: str = "public_id") -> EncryptedColumn:
    """Add an encrypted column (registering the same attribute twice is harmless)."""
    mapper = inspect(model)
    for name in (attribute, row_attribute):
        if name not in mapper.columns:
            raise ValueError(f"{model.__name__} has no mapped column {name!r}")
    entry = EncryptedColumn(model, attribute, column_name, table_name, row_attribute)
    existing = _REGISTRY.setdefault((model, attribute), entry)
    if existing != entry:
        raise ValueError(f"{model.__name__}.{attribute} is already registered differently")
    return existing


def _register_defaults() -> None:
    from campaign.actions.models import Digest, Letter
    from campaign.admin.models import Organiser
    from campaign.mail.models import OutgoingMessage
    from campaign.subscribers.models import Subscriber

    register(Subscriber, "email_enc", "email", "subscribers")
    register(Subscriber, "name_enc", "name", "subscribers")
    register(Subscriber, "pending_email_enc", "pending_email", "subscribers")
    register(Organiser, "email_enc", "email", "organisers")
    register(Organiser, "totp_secret_enc", "totp_secret", "organisers")
    register(Organiser, "totp_pending_enc", "totp_pending", "organisers")
    register(OutgoingMessage, "to_enc", "to", "outgoing_messages")
    register(OutgoingMessage, "context_enc", "context", "outgoing_messages")
    # campaign.actions (signing.py, digests.py); the feature may register them itself.
    register(Letter, "email_enc", "email", "letters")
    register(Letter, "person_enc", "person", "letters")
    register(Letter, "content_enc", "content", "letters")
    register(Digest, "body_enc", "body", "action_digests")


def registered() -> list[EncryptedColumn]:
    _register_defaults()
    return sorted(_REGISTRY.values(), key=lambda e: (e.table_name, e.column_name))


@dataclass
class ColumnResult:
    column: EncryptedColumn
    rotated: int = 0
    changed_meanwhile: int = 0  # rewritten by the site between our read and our update
    failed: list[str] = field(default_factory=list)  # row ids (public ids) that did not decrypt


def rotate_column(session: SessionLike, cipher: FieldCipher, column: EncryptedColumn,
                  batch_size: int = BATCH, commit: Callable[[], None] | None = None
                  ) -> ColumnResult:
    """Re-encrypt one column's values that are not under the newest key, a batch at a time;
    ``commit`` runs after each batch (the command commits; a test may not)."""
    result = ColumnResult(column)
    mapper = inspect(column.model)
    table: Table = mapper.local_table
    pk = mapper.primary_key[0]
    value = mapper.columns[column.attribute]
    row = mapper.columns[column.row_attribute]
    # bytes 2-5 of a ciphertext are its key id (byte 1 is the format version)
    stale = func.substr(value, 2, 4) != cipher.current_key_id
    update = (
        table.update()
        .where(pk == bindparam("_pk"), value == bindparam("_old"))
        .values({value.name: bindparam("_new")})
    )
    last: Any = None
    while True:
        query = select(pk, row, value).where(value.is_not(None), stale)
        if last is not None:
            query = query.where(pk > last)
        rows = session.execute(query.order_by(pk).limit(batch_size)).all()
        if not rows:
            return result
        changes = []
        for key, row_id, blob in rows:
            try:
                new = cipher.rotate(blob, table=column.table_name,
                                    column=column.column_name, row=row_id)
            except DecryptionError:
                result.failed.append(str(row_id))
                continue
            changes.append({"_pk": key, "_old": blob, "_new": new})
        if changes:
            outcome = session.execute(update, changes)
            done = int(getattr(outcome, "rowcount", len(changes)))
            result.rotated += done
            result.changed_meanwhile += len(changes) - done
        if commit is not None:
            commit()
        last = rows[-1][0]


def register_command(group: AppGroup) -> None:
    @group.command("rotate-data-key")
    @click.option("--batch-size", default=BATCH, show_default=True, type=click.IntRange(1))
    def rotate_data_key_command(batch_size: int) -> None:
        """Re-encrypt personal data under the newest DATA_KEYS key (safe to run again)."""
        from campaign.extensions import cipher, db

        failures = 0
        for column in registered():
            result = rotate_column(db.session, cipher(), column, batch_size,
                                   commit=db.session.commit)
            line = f"{column.label}: {result.rotated} re-encrypted"
            if result.changed_meanwhile:
                line += f", {result.changed_meanwhile} changed meanwhile (already current)"
            if result.failed:
                failures += len(result.failed)
                line += (f", {len(result.failed)} could not be decrypted with any configured "
                         f"key (rows {', '.join(result.failed[:10])})")
            click.echo(line)
        db.session.commit()
        if failures:
            raise click.ClickException(
                f"{failures} values could not be decrypted: keep the old key configured")
        click.echo("every encrypted value is under the newest key")
