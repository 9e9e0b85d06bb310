"""Read-only questions organisers ask about subscribers.

Counts carry numbers only (a viewer may see them). Everything that returns rows returns
``Subscriber`` objects still encrypted: the caller decrypts only what it shows (one page of
the list, one export batch at a time).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    LargeBinary,
    Select,
    TypeDecorator,
    any_,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import InstrumentedAttribute

from campaign.cases.models import Case
from campaign.db import SessionLike
from campaign.subscribers.models import (
    Consent,
    Follow,
    Subscriber,
    SubscriberEvent,
    Suppression,
)

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class Filters:
    """What the organiser narrowed the list to; None means any. ``case_id`` keeps the
    subscribers who chose to follow that case (people on "all alerts" are not counted)."""

    status: str | None = None
    locale: str | None = None
    case_id: int | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.status, self.locale, self.case_id))


def _narrow(stmt: Q, filters: Filters) -> Q:
    if filters.status is not None:
        stmt = stmt.where(Subscriber.status == filters.status)
    if filters.locale is not None:
        stmt = stmt.where(Subscriber.locale == filters.locale)
    if filters.case_id is not None:
        stmt = stmt.where(
            select(Follow.id)
            .where(Follow.subscriber_id == Subscriber.id, Follow.case_id == filters.case_id)
            .exists()
        )
    return stmt


def counts(session: SessionLike, filters: Filters | None = None) -> dict[str, dict[str, int]]:
    """{status: {locale: n}} — numbers only, no personal data (viewers may see them)."""
    stmt = _narrow(
        select(Subscriber.status, Subscriber.locale, func.count()).group_by(
            Subscriber.status, Subscriber.locale),
        filters or Filters(),
    )
    result: dict[str, dict[str, int]] = {}
    for status, locale, n in session.execute(stmt).all():
        result.setdefault(str(status), {})[str(locale)] = int(n)
    return result


def total(session: SessionLike, filters: Filters) -> int:
    stmt = _narrow(select(func.count()).select_from(Subscriber), filters)
    return int(session.scalar(stmt) or 0)


def page(session: SessionLike, filters: Filters, number: int, per_page: int
         ) -> Sequence[Subscriber]:
    """One page of the list, newest first (1-based page number)."""
    stmt = _narrow(select(Subscriber), filters).order_by(Subscriber.id.desc())
    stmt = stmt.offset(max(number - 1, 0) * per_page).limit(per_page)
    return session.scalars(stmt).all()


def batches(session: SessionLike, filters: Filters, size: int = 500
            ) -> Iterator[Sequence[Subscriber]]:
    """Every matching subscriber, ``size`` at a time, by primary key: memory stays flat
    however long the list (the session's identity map holds clean rows weakly), and rows
    added meanwhile at the end are included."""
    last = 0
    while True:
        stmt = _narrow(select(Subscriber), filters).where(Subscriber.id > last)
        rows: Sequence[Subscriber] = session.scalars(
            stmt.order_by(Subscriber.id).limit(size)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def by_email_index(session: SessionLike, index: bytes) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_index == index))


def consents(session: SessionLike, subscriber: Subscriber) -> Sequence[Consent]:
    return session.scalars(
        select(Consent).where(Consent.subscriber_id == subscriber.id).order_by(Consent.at)
    ).all()


def history(session: SessionLike, subscriber: Subscriber) -> Sequence[SubscriberEvent]:
    return session.scalars(
        select(SubscriberEvent).where(SubscriberEvent.subscriber_id == subscriber.id)
        .order_by(SubscriberEvent.at, SubscriberEvent.id)
    ).all()


class RawBytes(TypeDecorator[bytes]):
    """bytes handed to the driver as they are. ``LargeBinary`` first wraps each value in
    the DB-API ``Binary`` object, which the driver then unwraps: in a bulk load of a hundred
    thousand rows that is a noticeable share of the time. Both drivers adapt bytes."""

    impl = LargeBinary
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


def among(session: SessionLike, column: InstrumentedAttribute[bytes],
          values: list[bytes], key: str | None = None) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL one parameter and ``= ANY``: the statement stays
    short, so the driver caches its parsing. Blind indexes all have the same width, so they
    travel as one ``bytea`` (their concatenation) cut into an array by the server: an array
    parameter of a thousand ``bytea`` costs the driver about 4 µs an element to quote and
    escape, one ``bytea`` nothing. Conditions built with the same ``key`` (and the same
    values) in one statement share that parameter, which is then sent once."""
    if session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    width = len(values[0]) if values else 0
    if not width or any(len(v) != width for v in values):
        return column == any_(bindparam(key, values, type_=ARRAY(RawBytes())))
    joined = bindparam(key, b"".join(values), type_=RawBytes())
    start = (func.generate_series(1, func.length(joined), width)
             .table_valued("start").render_derived())
    pieces = select(func.array_agg(func.substring(joined, start.c.start, width)))
    # (The cast keeps the parentheses: ANY of an array, not ANY of a subquery's rows.)
    return column == any_(cast(pieces.scalar_subquery(), ARRAY(LargeBinary)))


def known_indexes(session: SessionLike, indexes: list[bytes]) -> dict[bytes, tuple[str, Any, Any]]:
    """One query for a chunk: each index found, as (status, source, created_at) of the
    subscriber, or ("suppressed", None, None) from the suppression list (which wins)."""
    found: CompoundSelect[*tuple[Any, ...]] = union_all(
        select(Subscriber.email_index, Subscriber.status, Subscriber.source,
               Subscriber.created_at).where(
            among(session, Subscriber.email_index, indexes, "indexes")),
        select(Suppression.email_index, literal("suppressed"), null(), null())
        .where(among(session, Suppression.email_index, indexes, "indexes")),
    )
    known: dict[bytes, tuple[str, Any, Any]] = {}
    for index, status, source, created in session.execute(found):
        if bytes(index) not in known or status == "suppressed":
            known[bytes(index)] = (str(status), source, created)
    return known


def case_label(case: Case, locale: str) -> str:
    local = {"tg": case.name_tg, "ru": case.name_ru}.get(locale, "")
    return local or case.name_en


def all_cases(session: SessionLike, locale: str) -> list[tuple[Case, str]]:
    """Every case (published or not: people may still follow a case taken offline), named
    in ``locale`` where a name exists, sorted by that name."""
    cases = session.scalars(select(Case)).all()
    return sorted(((c, case_label(c, locale)) for c in cases),
                  key=lambda item: item[1].casefold())


def case_by_public_id(session: SessionLike, pid: str) -> Case | None:
    return session.scalar(select(Case).where(Case.public_id == pid))


def followable_cases(session: SessionLike, locale: str) -> list[tuple[int, str]]:
    """Published cases (with the family's consent), named in ``locale`` where a name exists."""
    rows = session.scalars(
        select(Case).where(Case.published.is_(True), Case.consent_given.is_(True))
    ).all()
    return sorted(((case.id, case_label(case, locale)) for case in rows),
                  key=lambda item: item[1].casefold())


class Statistics:
    """Gives PostgreSQL a row estimate of the subscribers table it can grow during a bulk load.

    The chunk look-ups are planned from table statistics. A table the planner has never
    measured (new, or truncated) is assumed tiny, so it scans the whole table for every chunk
    and the import turns quadratic; autovacuum catches up only a minute or so later. Once the
    table has been analysed with some rows, the planner scales its estimate with the table's
    current size on disk (rows per page × pages), so one ANALYZE early in the load is enough:
    it runs after the chunk that brings ``MIN_ROWS`` new rows into a table the statistics
    call smaller than that. Nothing happens on other databases.
    """

    MIN_ROWS = 5000

    def __init__(self, session: SessionLike) -> None:
        self.session = session
        self.enabled = session.get_bind().dialect.name == "postgresql"
        self.known = self._estimate() if self.enabled else 0
        self.added = 0

    def _estimate(self) -> int:
        found = self.session.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'subscribers'::regclass")
        ).scalar()
        return max(int(found or 0), 0)

    def inserted(self, rows: int) -> None:
        if not self.enabled or self.known >= self.MIN_ROWS:
            return
        self.added += rows
        if self.added >= self.MIN_ROWS:
            self.session.execute(text("ANALYZE subscribers"))
            self.known, self.added = self._estimate(), 0
