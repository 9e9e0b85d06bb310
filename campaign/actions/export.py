"""The signers of an action as CSV, safe to open in a spreadsheet: every cell that could be
read as a formula is neutralised. Needs Permission.EXPORT and a fresh TOTP (see the view);
each export is audited (who, when, how many rows: never the data itself)."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from campaign.actions.models import Action, Letter, LetterStatus
from campaign.actions.signing import person_of
from campaign.admin.models import Organiser
from campaign.admin.services import audit
from campaign.db import SessionLike
from campaign.text import neutralise_csv_cell

HEADER = ("confirmed", "name", "city", "country", "language")


def signers_csv(session: SessionLike, action: Action, actor: Organiser | None,
                ip: str | None = None) -> tuple[str, int]:
    """The CSV text (UTF-8 with a byte-order mark, so spreadsheets read Cyrillic right) and
    the number of signers in it."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(HEADER)
    count = 0
    for letter in session.scalars(
            select(Letter).where(Letter.action_id == action.id,
                                 Letter.status == LetterStatus.CONFIRMED.value)
            .order_by(Letter.confirmed_at, Letter.id)):
        person = person_of(letter)
        confirmed = letter.confirmed_at.date().isoformat() if letter.confirmed_at else ""
        writer.writerow([neutralise_csv_cell(cell) for cell in (
            confirmed, person.name, person.city, person.country, letter.locale)])
        count += 1
    audit(session, "action.exported", actor=actor, object_type="action",
          object_id=action.public_id, detail={"rows": count}, ip=ip)
    return out.getvalue(), count
