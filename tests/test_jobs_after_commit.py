"""Work leaves only after the outermost transaction commits, whatever savepoints happen."""

from __future__ import annotations

import contextlib
import uuid

from flask import Flask
from sqlalchemy.exc import IntegrityError

from campaign.extensions import db
from campaign.mail import services as mail
from campaign.mail.models import OutgoingMessage


def test_a_savepoint_neither_releases_nor_drops_pending_work(app: Flask, outbox) -> None:  # type: ignore[no-untyped-def]
    runner = app.extensions["campaign.runner"]
    with app.app_context():
        first = mail.queue_message(db.session, template="invite", to_address="a@example.org",
                                   locale="en", context={"link": "x", "role": "viewer"},
                                   dedupe_key=uuid.uuid4().hex)
        # A later savepoint, released and one rolled back, inside the same transaction.
        mail.queue_message(db.session, template="invite", to_address="b@example.org",
                           locale="en", context={"link": "x", "role": "viewer"},
                           dedupe_key=uuid.uuid4().hex)
        with contextlib.suppress(IntegrityError), db.session.begin_nested():
            # The duplicate key rolls this savepoint back.
            db.session.add(OutgoingMessage(template="x", dedupe_key=first.dedupe_key,
                                           to_enc=b"", to_index=b"0" * 32))
        runner.wait_idle()
        assert outbox.outbox == []  # nothing left before the real commit
        db.session.commit()
    runner.wait_idle()
    assert sorted(to for _f, to, _d in outbox.outbox) == ["a@example.org", "b@example.org"]
