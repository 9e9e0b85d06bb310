"""Rules of the supporter's journey: sign-up, double opt-in, preferences, leaving, erasure.

Functions flush and never commit; the view, job or command calling them owns the transaction.
Mail is only recorded in the ledger here (campaign.mail.services.queue_message) and leaves
after the commit.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, url_for
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from campaign.addresses import fold, normalise
from campaign.crypto import BlindIndex, FieldCipher
from campaign.db import SessionLike, public_id, utcnow
from campaign.extensions import blind_index, cipher
from campaign.mail import services as mail
from campaign.mail.models import OutgoingMessage
from campaign.security import sign_link
from campaign.subscribers.models import (
    ConfirmationSlot,
    Consent,
    Follow,
    Status,
    Subscriber,
    SubscriberEvent,
    Suppression,
    SuppressionReason,
)
from campaign.text import strip_controls

TABLE = "subscribers"
CONSENT_VERSION = "2026-11-v1"
CONFIRM_MAX_AGE = 72 * 3600  # a confirmation link works for three days…
UNCONFIRMED_RETENTION = timedelta(hours=72)  # …and unconfirmed sign-ups go after that
NAME_MAX = 200


class SubscriberError(ValueError):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- encryption helpers ----------------------------------------------------------------------


def email_index(address: str, indexer: BlindIndex | None = None) -> bytes:
    return (indexer or blind_index()).digest(address, purpose="email")


def fold_index(address: str, indexer: BlindIndex | None = None) -> bytes:
    return (indexer or blind_index()).digest(fold(address), purpose="email-folded")


def email_of(subscriber: Subscriber) -> str:
    return cipher().decrypt(subscriber.email_enc, table=TABLE, column="email",
                            row=subscriber.public_id)


def name_of(subscriber: Subscriber) -> str:
    if subscriber.name_enc is None:
        return ""
    return cipher().decrypt(subscriber.name_enc, table=TABLE, column="name",
                            row=subscriber.public_id)


def set_email(subscriber: Subscriber, address: str) -> None:
    subscriber.email_enc = cipher().encrypt(address, table=TABLE, column="email",
                                            row=subscriber.public_id)
    subscriber.email_index = email_index(address)
    subscriber.fold_index = fold_index(address)


def clean_name(name: str | None) -> str:
    cleaned = strip_controls(name or "")
    if len(cleaned) > NAME_MAX:
        raise SubscriberError("name_long")
    return cleaned


def set_name(subscriber: Subscriber, name: str | None) -> None:
    cleaned = clean_name(name)
    subscriber.name_enc = (
        cipher().encrypt(cleaned, table=TABLE, column="name", row=subscriber.public_id)
        if cleaned
        else None
    )


def find(session: SessionLike, address: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_index == email_index(address)))


def find_by_public_id(session: SessionLike, pid: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.public_id == pid))


def is_suppressed(session: SessionLike, address_index: bytes) -> bool:
    return session.scalar(
        select(Suppression.id).where(Suppression.email_index == address_index)
    ) is not None


def suppress(session: SessionLike, address_index: bytes, reason: SuppressionReason) -> None:
    existing = session.scalar(select(Suppression).where(Suppression.email_index == address_index))
    if existing is None:
        session.add(Suppression(email_index=address_index, reason=reason.value))
    else:
        existing.reason = reason.value
    session.flush()


def record(session: SessionLike, subscriber: Subscriber, kind: str, **detail: Any) -> None:
    session.add(SubscriberEvent(subscriber_id=subscriber.id, kind=kind, detail=detail))


# --- links -----------------------------------------------------------------------------------


def _base() -> str:
    return str(current_app.extensions["campaign.config"].base_url)


def confirm_token(subscriber: Subscriber) -> str:
    return sign_link({"s": subscriber.public_id, "n": subscriber.confirm_nonce}, "confirm")


def preferences_token(subscriber: Subscriber) -> str:
    return sign_link({"s": subscriber.public_id, "v": subscriber.link_version}, "prefs")


def unsubscribe_token(subscriber: Subscriber) -> str:
    return sign_link({"s": subscriber.public_id, "v": subscriber.link_version}, "unsub")


def links(subscriber: Subscriber) -> dict[str, Any]:
    """The signed links every mail to a subscriber carries, built from BASE_URL only."""
    prefs = preferences_token(subscriber)
    base = _base()
    return {
        "preferences_url": base + url_for("subscribers.preferences", lang=subscriber.locale,
                                          token=prefs),
        "unsubscribe_url": base + url_for("unsubscribe.one_click",
                                          token=unsubscribe_token(subscriber)),
        "language_urls": {
            code: base + url_for("subscribers.preferences", lang=code, token=prefs)
            for code in ("en", "ru", "tg")
        },
    }


# --- the daily slot --------------------------------------------------------------------------


def take_daily_slot(session: SessionLike, folded: bytes, purpose: str, now: datetime) -> bool:
    """True for the first request of the day for this folded address: at most one mail a day
    per address, whatever its variants and however many IPs ask (a unique key decides)."""
    try:
        with session.begin_nested():
            session.add(ConfirmationSlot(fold_index=folded, day=now.date(), purpose=purpose))
    except IntegrityError:
        return False
    return True


# --- sign-up and confirmation ----------------------------------------------------------------


@dataclass(frozen=True)
class SignupRequest:
    email: str
    name: str | None
    locale: str
    all_alerts: bool
    case_ids: tuple[int, ...]
    form: str = "signup"
    consent_version: str = CONSENT_VERSION


def set_follows(subscriber: Subscriber, all_alerts: bool, case_ids: Iterable[int]) -> None:
    subscriber.all_alerts = all_alerts
    wanted = set() if all_alerts else set(case_ids)
    subscriber.follows[:] = [f for f in subscriber.follows if f.case_id in wanted]
    for case_id in sorted(wanted - subscriber.followed_case_ids):
        subscriber.follows.append(Follow(case_id=case_id))


def subscribe(session: SessionLike, request: SignupRequest, now: datetime | None = None) -> str:
    """Handle a sign-up. Returns what happened, for tests and logs only: the visitor always
    sees the same page, whatever the state of the address (no enumeration)."""
    now = now or utcnow()
    address = normalise(request.email)
    name = clean_name(request.name)
    subscriber = find(session, address)
    folded = fold_index(address)
    if subscriber is None:
        subscriber = Subscriber(public_id=public_id(), status=Status.PENDING.value,
                                locale=request.locale, source=request.form, link_version=1)
        set_email(subscriber, address)
        set_name(subscriber, name)
        session.add(subscriber)
        session.flush()
        set_follows(subscriber, request.all_alerts, request.case_ids)
        outcome = "new"
    elif subscriber.status == Status.PENDING.value:
        # Not yet confirmed: the newest choices count (nothing is sent until confirmed).
        subscriber.locale = request.locale
        set_name(subscriber, name)
        set_follows(subscriber, request.all_alerts, request.case_ids)
        outcome = "pending"
    elif subscriber.status in (Status.ACTIVE.value, Status.PAUSED.value):
        # Already subscribed: remind them of their preferences link, once a day at most.
        if take_daily_slot(session, folded, "link", now):
            send_preferences_link(session, subscriber)
        return "active"
    else:
        # Unsubscribed or bounced: only a new double opt-in brings them back.
        outcome = "returning"
    session.add(Consent(subscriber_id=subscriber.id, form=request.form,
                        text_version=request.consent_version, locale=request.locale, at=now))
    if take_daily_slot(session, folded, "confirm", now):
        send_confirmation(session, subscriber, request.locale)
    else:
        outcome += "-throttled"
    session.flush()
    return outcome


def send_confirmation(session: SessionLike, subscriber: Subscriber, locale: str,
                      to_address: str | None = None) -> None:
    """A confirmation link with a fresh nonce, to the subscriber's address or, for a change
    of address, to the new one."""
    subscriber.confirm_nonce = secrets.token_urlsafe(12)
    session.flush()
    token = confirm_token(subscriber)
    base = _base()
    mail.queue_message(
        session,
        template="subscribers/confirm",
        to_address=to_address or email_of(subscriber),
        locale=locale,
        # Fixed text only: nothing the form received is echoed (not even the name).
        context={
            "confirm_url": base + url_for("subscribers.confirm", lang=locale, token=token),
            "language_urls": {
                code: base + url_for("subscribers.confirm", lang=code, token=token)
                for code in ("en", "ru", "tg")
            },
        },
        dedupe_key=f"confirm:{subscriber.public_id}:{subscriber.confirm_nonce}",
    )


def send_preferences_link(session: SessionLike, subscriber: Subscriber) -> None:
    mail.queue_message(
        session,
        template="subscribers/preferences_link",
        to_address=email_of(subscriber),
        locale=subscriber.locale,
        context=links(subscriber),
        dedupe_key=f"prefs-link:{subscriber.public_id}:{secrets.token_hex(8)}",
    )


def confirm(session: SessionLike, subscriber: Subscriber, nonce: str,
            now: datetime | None = None) -> None:
    """The POST behind the confirmation link. A nonce works once."""
    now = now or utcnow()
    if not subscriber.confirm_nonce or not secrets.compare_digest(subscriber.confirm_nonce, nonce):
        raise SubscriberError("token_used")
    subscriber.confirm_nonce = None
    changing_address = subscriber.pending_email_enc is not None
    if changing_address:
        new_address = cipher().decrypt(subscriber.pending_email_enc or b"", table=TABLE,
                                       column="pending_email", row=subscriber.public_id)
        if find(session, new_address) is not None:
            raise SubscriberError("address_taken")
        set_email(subscriber, new_address)
        subscriber.pending_email_enc = None
        subscriber.pending_email_index = None
        subscriber.link_version += 1
        record(session, subscriber, "address_changed")
    session.execute(delete(Suppression).where(Suppression.email_index == subscriber.email_index))
    was_active = subscriber.status == Status.ACTIVE.value
    subscriber.status = Status.ACTIVE.value
    subscriber.confirmed_at = now
    for consent in session.scalars(
        select(Consent).where(Consent.subscriber_id == subscriber.id,
                              Consent.confirmed_at.is_(None))
    ):
        consent.confirmed_at = now
    record(session, subscriber, "confirmed")
    session.flush()
    if not was_active or changing_address:
        mail.queue_message(
            session,
            template="subscribers/welcome",
            to_address=email_of(subscriber),
            locale=subscriber.locale,
            context=links(subscriber),
            dedupe_key=f"welcome:{subscriber.public_id}:{subscriber.link_version}:"
                       f"{int(now.timestamp())}",
        )


# --- preferences ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    locale: str
    name: str | None
    all_alerts: bool
    case_ids: tuple[int, ...]
    paused: bool
    discreet: bool


def update_preferences(session: SessionLike, subscriber: Subscriber, prefs: Preferences) -> None:
    if subscriber.locale != prefs.locale:
        record(session, subscriber, "language", old=subscriber.locale, new=prefs.locale)
    subscriber.locale = prefs.locale
    set_name(subscriber, prefs.name)
    set_follows(subscriber, prefs.all_alerts, prefs.case_ids)
    subscriber.discreet = prefs.discreet
    if subscriber.status in (Status.ACTIVE.value, Status.PAUSED.value):
        new_status = Status.PAUSED.value if prefs.paused else Status.ACTIVE.value
        if new_status != subscriber.status:
            record(session, subscriber, new_status)
        subscriber.status = new_status
    record(session, subscriber, "preferences")
    session.flush()


def request_address_change(session: SessionLike, subscriber: Subscriber, new_email: str,
                           now: datetime | None = None) -> None:
    """The new address must confirm before it replaces the old one."""
    now = now or utcnow()
    address = normalise(new_email)
    if address == email_of(subscriber):
        return
    subscriber.pending_email_enc = cipher().encrypt(address, table=TABLE, column="pending_email",
                                                    row=subscriber.public_id)
    subscriber.pending_email_index = email_index(address)
    session.flush()
    if find(session, address) is not None or not take_daily_slot(
        session, fold_index(address), "confirm", now
    ):
        return  # same answer to the visitor; nothing is sent
    send_confirmation(session, subscriber, subscriber.locale, to_address=address)


def email_my_link(session: SessionLike, raw_email: str, now: datetime | None = None) -> None:
    """The "email me my link" form: silent whether or not the address is known."""
    now = now or utcnow()
    try:
        address = normalise(raw_email)
    except ValueError:
        return
    subscriber = find(session, address)
    if subscriber is None or subscriber.status not in (Status.ACTIVE.value, Status.PAUSED.value):
        return
    if take_daily_slot(session, fold_index(address), "link", now):
        send_preferences_link(session, subscriber)


def unsubscribe(session: SessionLike, subscriber: Subscriber, how: str) -> bool:
    """Idempotent. Returns True when this call changed something."""
    suppress(session, subscriber.email_index, SuppressionReason.UNSUBSCRIBED)
    if subscriber.status == Status.UNSUBSCRIBED.value:
        return False
    subscriber.status = Status.UNSUBSCRIBED.value
    subscriber.confirm_nonce = None
    record(session, subscriber, "unsubscribed", how=how)
    session.flush()
    return True


def send_goodbye(session: SessionLike, subscriber: Subscriber) -> None:
    mail.queue_message(
        session,
        template="subscribers/goodbye",
        to_address=email_of(subscriber),
        locale=subscriber.locale,
        context={},
        dedupe_key=f"goodbye:{subscriber.public_id}:{subscriber.link_version}",
    )


def export_data(session: SessionLike, subscriber: Subscriber) -> dict[str, Any]:
    """Everything we hold about one subscriber, readable (download my data / on request)."""
    consents = session.scalars(select(Consent).where(Consent.subscriber_id == subscriber.id))
    events = session.scalars(
        select(SubscriberEvent).where(SubscriberEvent.subscriber_id == subscriber.id)
        .order_by(SubscriberEvent.at)
    )
    return {
        "email": email_of(subscriber),
        "name": name_of(subscriber),
        "language": subscriber.locale,
        "status": subscriber.status,
        "all_alerts": subscriber.all_alerts,
        "followed_cases": sorted(subscriber.followed_case_ids),
        "discreet": subscriber.discreet,
        "subscribed_at": subscriber.created_at.isoformat(),
        "confirmed_at": subscriber.confirmed_at.isoformat() if subscriber.confirmed_at else None,
        "consents": [
            {"at": c.at.isoformat(), "form": c.form, "text_version": c.text_version,
             "language": c.locale,
             "confirmed_at": c.confirmed_at.isoformat() if c.confirmed_at else None}
            for c in consents
        ],
        "history": [{"at": e.at.isoformat(), "what": e.kind} for e in events],
    }


def export_json(session: SessionLike, subscriber: Subscriber) -> str:
    return json.dumps(export_data(session, subscriber), ensure_ascii=False, indent=2)


def erase(session: SessionLike, subscriber: Subscriber) -> None:
    """Remove the person: their row, follows, history and mail to them. Only the blind index
    stays, on the suppression list, so no import can add them back without a new opt-in."""
    index = subscriber.email_index
    suppress(session, index, SuppressionReason.ERASED)
    session.execute(delete(OutgoingMessage).where(OutgoingMessage.to_index == index))
    session.execute(delete(Consent).where(Consent.subscriber_id == subscriber.id))
    session.delete(subscriber)
    session.flush()


def purge_unconfirmed(session: SessionLike, now: datetime | None = None) -> int:
    """Unconfirmed sign-ups are deleted after 72 hours (their mail rows too)."""
    now = now or utcnow()
    old = session.scalars(
        select(Subscriber).where(Subscriber.status == Status.PENDING.value,
                                 Subscriber.created_at < now - UNCONFIRMED_RETENTION)
    ).all()
    for subscriber in old:
        session.execute(delete(OutgoingMessage).where(
            OutgoingMessage.to_index == subscriber.email_index))
        session.execute(delete(Consent).where(Consent.subscriber_id == subscriber.id))
        session.delete(subscriber)
    session.execute(delete(ConfirmationSlot).where(
        ConfirmationSlot.day < (now - timedelta(days=2)).date()))
    session.flush()
    return len(old)


def suppress_bounced(session: SessionLike, address_index: bytes, reason: SuppressionReason) -> None:
    """A permanent failure (5.1.x) or a complaint: suppressed, and the subscriber marked."""
    suppress(session, address_index, reason)
    subscriber = session.scalar(select(Subscriber).where(Subscriber.email_index == address_index))
    if subscriber is not None and subscriber.status != Status.UNSUBSCRIBED.value:
        subscriber.status = (Status.BOUNCED if reason == SuppressionReason.BOUNCED
                             else Status.COMPLAINED).value
        record(session, subscriber, subscriber.status)
    session.flush()


# --- bulk import ------------------------------------------------------------------------------


def sealed_columns(pid: str, address: str, name: str, index: bytes | None = None, *,
                   sealer: FieldCipher | None = None, indexer: BlindIndex | None = None
                   ) -> dict[str, bytes | None]:
    """The encrypted and indexed columns of a new subscriber row, built without an ORM object
    (bulk import): exactly what :func:`set_email` and :func:`set_name` store. ``address`` is
    normalised and ``name`` cleaned (:func:`clean_name`) by the caller, who may pass the
    ``email_index(address)`` it already computed. ``sealer`` and ``indexer`` default to the
    app's; a caller outside the app context (the import's read-ahead thread) passes them."""
    sealer = sealer or cipher()
    return {
        "email_enc": sealer.encrypt(address, table=TABLE, column="email", row=pid),
        "email_index": index if index is not None else email_index(address, indexer),
        "fold_index": fold_index(address, indexer),
        "name_enc": sealer.encrypt(name, table=TABLE, column="name", row=pid) if name else None,
    }
