"""Recovery codes: ten single-use codes that stand in for a TOTP code when the phone is lost.

Shown once, when they are made; stored only as HMAC-SHA256 under INDEX_KEY of a random
per-code salt and the code (see ``RecoveryCode``). A code has 80 bits of entropy, so it cannot
be guessed online, and without INDEX_KEY a leaked dump does not let anyone test guesses
offline either. Functions flush and never commit.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update

from campaign.admin import services as accounts
from campaign.admin.models import Organiser, RecoveryCode
from campaign.db import SessionLike
from campaign.extensions import blind_index

COUNT = 10
# No 0/o, 1/l/i: a code is read off paper and typed by hand.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
LENGTH = 16  # 16 symbols of 31: about 79 bits
GROUP = 4


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch not in " -\t")


def looks_like_recovery_code(code: str) -> bool:
    text = _normalise(code)
    return len(text) == LENGTH and all(ch in ALPHABET for ch in text)


def _digest(salt: bytes, code: str) -> bytes:
    return blind_index().digest(f"{salt.hex()}:{_normalise(code)}", purpose="recovery-code")


def _new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def has_codes(session: SessionLike, organiser: Organiser) -> bool:
    """Whether codes were ever made for this account (used or not)."""
    found = session.scalar(
        select(RecoveryCode.id).where(RecoveryCode.organiser_id == organiser.id).limit(1)
    )
    return found is not None


def remaining(session: SessionLike, organiser: Organiser) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.organiser_id == organiser.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def generate(session: SessionLike, organiser: Organiser, now: datetime) -> list[str]:
    """Replace every code of the account with COUNT new ones; returns them for showing once."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.organiser_id == organiser.id))
    codes = [_new_code() for _ in range(COUNT)]
    for code in codes:
        salt = secrets.token_bytes(16)
        session.add(RecoveryCode(organiser_id=organiser.id, salt=salt,
                                 code_hash=_digest(salt, code), created_at=now))
    session.flush()
    return codes


def use(session: SessionLike, organiser: Organiser, code: str, now: datetime) -> bool:
    """Accept an unused code of this account once. The claim is a conditional update, so two
    requests racing with the same code cannot both succeed."""
    if not looks_like_recovery_code(code):
        return False
    rows = session.scalars(
        select(RecoveryCode).where(
            RecoveryCode.organiser_id == organiser.id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    match: RecoveryCode | None = None
    for row in rows:  # compare every row: the time taken does not depend on which matched
        if hmac.compare_digest(row.code_hash, _digest(row.salt, code)):
            match = row
    if match is None:
        return False
    result = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == match.id, RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.expire(match)
    return bool(getattr(result, "rowcount", 0) == 1)


def verify_second_factor(
    session: SessionLike, organiser: Organiser, code: str, now: datetime
) -> str | None:
    """"totp" or "recovery" for whichever the organiser typed, if it is valid (each once);
    None otherwise."""
    compact = "".join(code.split())
    if compact.isdigit():
        return "totp" if accounts.verify_totp(organiser, compact, now) else None
    return "recovery" if use(session, organiser, code, now) else None
