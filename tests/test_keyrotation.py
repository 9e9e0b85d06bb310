"""``flask campaign rotate-data-key``: every encrypted value moves to the newest key, in
batches, idempotently, on SQLite and PostgreSQL; the blind indexes stay as they were."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import LargeBinary, inspect, select, update

from campaign import keyrotation
from campaign.admin import services as accounts
from campaign.admin.models import Organiser
from campaign.crypto import key_id, parse_keys
from campaign.db import Base
from campaign.extensions import cipher, db
from campaign.subscribers import services as subs
from campaign.subscribers.models import Subscriber
from tests.conftest import wait_for_jobs


def _key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _fill(app: Flask) -> None:
    """Something in every registered column: a subscriber with a name and a pending change
    of address (and the mail queued to them), an organiser enrolled in TOTP and re-enrolling."""
    with app.test_request_context():
        for i in range(5):
            subs.subscribe(db.session, subs.SignupRequest(
                email=f"person{i}@example.org", name=f"Имя {i}", locale="tg",
                all_alerts=True, case_ids=()))
        db.session.commit()
        first = subs.find(db.session, "person0@example.org")
        assert first is not None
        first.status = "active"
        subs.request_address_change(db.session, first, "new.address@example.org")
        organiser = accounts.create_organiser(db.session, "organiser@example.org",
                                              password="correct horse battery staple")
        secret = accounts.start_enrolment(organiser)
        past = datetime.now(UTC) - timedelta(minutes=5)
        assert accounts.confirm_enrolment(organiser, pyotp.TOTP(secret).at(past), past)
        accounts.start_enrolment(organiser)  # a pending secret too
        db.session.commit()
    wait_for_jobs(app)


def _plaintexts(app: Flask) -> dict[tuple[str, str], str]:
    """{(column label, row id): plaintext} of every encrypted value, read with this app's keys."""
    found = {}
    with app.app_context():
        for column in keyrotation.registered():
            mapper = inspect(column.model)
            value = mapper.columns[column.attribute]
            row = mapper.columns[column.row_attribute]
            for row_id, blob in db.session.execute(select(row, value).where(value.is_not(None))):
                found[(column.label, row_id)] = cipher().decrypt(
                    blob, table=column.table_name, column=column.column_name, row=row_id)
    return found


def _key_ids(app: Flask) -> set[bytes]:
    with app.app_context():
        ids = set()
        for column in keyrotation.registered():
            value = inspect(column.model).columns[column.attribute]
            ids |= {bytes(b[1:5]) for b in db.session.scalars(
                select(value).where(value.is_not(None)))}
        return ids


def _indexes(app: Flask) -> list[tuple[bytes, bytes]]:
    with app.app_context():
        return [(bytes(a), bytes(b)) for a, b in db.session.execute(
            select(Subscriber.email_index, Subscriber.fold_index).order_by(Subscriber.id))]


def test_rotation_re_encrypts_everything_under_the_newest_key(
        make_app: Callable[..., Flask], db_url: str) -> None:
    key_a, key_b = _key(), _key()
    old = make_app(DATABASE_URL=db_url, DATA_KEYS=key_a)
    _fill(old)
    before, indexes = _plaintexts(old), _indexes(old)
    # Every column of the supporters, organisers and mail ledger holds a value to rotate (the
    # letters of campaign.actions go through the same code and are not built here).
    assert {label for label, _row in before} == {
        c.label for c in keyrotation.registered()
        if c.table_name in ("subscribers", "organisers", "outgoing_messages")}
    assert _key_ids(old) == {key_id(parse_keys(key_a)[0])}

    both = make_app(create_schema=False, DATABASE_URL=db_url, DATA_KEYS=f"{key_b},{key_a}")
    runner = both.test_cli_runner()
    result = runner.invoke(args=["campaign", "rotate-data-key", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "subscribers.email: 5 re-encrypted" in result.output
    assert "subscribers.pending_email: 1 re-encrypted" in result.output
    assert "organisers.totp_secret: 1 re-encrypted" in result.output
    again = runner.invoke(args=["campaign", "rotate-data-key"])
    assert again.exit_code == 0
    assert all(line.endswith(": 0 re-encrypted")
               for line in again.output.splitlines()[:-1]), again.output

    new = make_app(create_schema=False, DATABASE_URL=db_url, DATA_KEYS=key_b)
    assert _plaintexts(new) == before
    assert _key_ids(new) == {key_id(parse_keys(key_b)[0])}
    assert _indexes(new) == indexes  # INDEX_KEY is never rotated: look-ups keep working
    with new.app_context():
        assert subs.find(db.session, "person3@example.org") is not None


def test_a_value_no_key_opens_is_reported_and_the_rest_rotated(
        make_app: Callable[..., Flask]) -> None:
    key_a, key_b, stranger = _key(), _key(), _key()
    old = make_app(DATA_KEYS=key_a)
    _fill(old)
    other = make_app(create_schema=False, DATA_KEYS=stranger)
    with other.app_context():
        lost = subs.find(db.session, "person2@example.org")
        assert lost is not None
        db.session.execute(update(Subscriber).where(Subscriber.id == lost.id).values(
            name_enc=cipher().encrypt("x", table="subscribers", column="name",
                                      row=lost.public_id)))
        db.session.commit()
        lost_pid = lost.public_id
    both = make_app(create_schema=False, DATA_KEYS=f"{key_b},{key_a}")
    result = both.test_cli_runner().invoke(args=["campaign", "rotate-data-key"])
    assert result.exit_code != 0
    assert "subscribers.name: 4 re-encrypted, 1 could not be decrypted" in result.output
    assert lost_pid in result.output and "Имя" not in result.output
    assert "subscribers.email: 5 re-encrypted" in result.output


def test_a_value_rewritten_meanwhile_is_left_as_the_site_wrote_it(app: Flask) -> None:
    _fill(app)
    with app.app_context():
        column = next(c for c in keyrotation.registered() if c.label == "subscribers.name")
        sealer = cipher()
        real_rotate = sealer.rotate

        class Racing:
            """Rotates, but the site rewrites the first row before our update lands."""

            current_key_id = b"\0\0\0\0"  # every value looks stale
            raced = False

            def rotate(self, blob: Any, **where: Any) -> bytes:
                if not self.raced:
                    self.raced = True
                    db.session.execute(update(Subscriber).where(
                        Subscriber.public_id == where["row"]).values(name_enc=sealer.encrypt(
                            "Новое имя", table="subscribers", column="name", row=where["row"])))
                return real_rotate(blob, **where)

        result = keyrotation.rotate_column(db.session, Racing(), column)  # type: ignore[arg-type]
        assert result.changed_meanwhile == 1 and result.rotated == 4
        names = {subs.name_of(s) for s in db.session.scalars(select(Subscriber))}
        assert "Новое имя" in names


def test_every_encrypted_column_of_every_model_is_registered(app: Flask) -> None:
    """A feature that adds an ``*_enc`` column must register it, or rotation would miss it."""
    registered = {(c.model, c.attribute) for c in keyrotation.registered()}
    missing = []
    for mapper in Base.registry.mappers:
        for column in mapper.columns:
            if (column.key.endswith("_enc") and isinstance(column.type, LargeBinary)
                    and (mapper.class_, column.key) not in registered):
                missing.append(f"{mapper.class_.__name__}.{column.key}")
    assert not missing, f"register these with campaign.keyrotation.register: {missing}"


def test_register_refuses_unknown_columns_and_conflicting_entries() -> None:
    with pytest.raises(ValueError, match="no mapped column"):
        keyrotation.register(Organiser, "nothing_enc", "nothing", "organisers")
    keyrotation.register(Organiser, "email_enc", "email", "organisers")  # again: harmless
    with pytest.raises(ValueError, match="already registered"):
        keyrotation.register(Organiser, "email_enc", "address", "organisers")
