"""Read-only questions organisers ask about subscribers: counts by status and language."""

from __future__ import annotations

from sqlalchemy import func, select

from campaign.db import SessionLike
from campaign.subscribers.models import Subscriber


def counts(session: SessionLike) -> dict[str, dict[str, int]]:
    """{status: {locale: n}} — numbers only, no personal data (viewers may see them)."""
    rows = session.execute(
        select(Subscriber.status, Subscriber.locale, func.count()).group_by(
            Subscriber.status, Subscriber.locale)
    ).all()
    result: dict[str, dict[str, int]] = {}
    for status, locale, n in rows:
        result.setdefault(str(status), {})[str(locale)] = int(n)
    return result


def followable_cases(session: SessionLike, locale: str) -> list[tuple[int, str]]:
    """Published cases (with the family's consent), named in ``locale`` where a name exists."""
    from campaign.cases.models import Case

    rows = session.scalars(
        select(Case).where(Case.published.is_(True), Case.consent_given.is_(True))
    ).all()

    def label(case: Case) -> str:
        local = {"tg": case.name_tg, "ru": case.name_ru}.get(locale, "")
        return local or case.name_en

    return sorted(((case.id, label(case)) for case in rows), key=lambda item: item[1].casefold())
