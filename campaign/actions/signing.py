"""The volunteer's side: signing a letter, confirming it by email, expiry of unconfirmed ones.

Only a confirmed letter is queued. One letter per folded address and action: a second
signature by the same mailbox changes a pending letter (no new mail within a day) and does
nothing at all to a confirmed one. The visitor sees the same page in every case.
Functions flush and never commit.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app, url_for
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from campaign import jobs
from campaign.actions import schedule
from campaign.actions.models import (
    Action,
    ActionTarget,
    DeliveryStatus,
    Letter,
    LetterDelivery,
    LetterStatus,
)
from campaign.actions.services import OpenState, open_state, platform_targets, reachable
from campaign.actions.texts import (
    LetterTextError,
    Person,
    check_links,
    clean_body,
    finish,
    letter_locale,
    variant_for,
)
from campaign.addresses import fold, normalise
from campaign.db import SessionLike, public_id, utcnow
from campaign.extensions import blind_index, cipher
from campaign.mail import services as mail
from campaign.mail.models import OutgoingMessage
from campaign.security import sign_link
from campaign.targets.models import DeliveryMode
from campaign.text import strip_controls

TABLE = "letters"
NAME_MAX = 200
PLACE_MAX = 100
CONFIRM_MAX_AGE = 72 * 3600  # the confirmation link works for three days…
UNCONFIRMED_RETENTION = dt.timedelta(hours=72)  # …and unconfirmed letters go after that
RESEND_AFTER = dt.timedelta(hours=24)  # at most one confirmation mail a day per letter
LINK_PURPOSE = "letter"


class SigningError(ValueError):
    """``code``: draft, not_yet, closed (the action's state), tampered (the form names
    targets or variants it never showed), no_target, name_missing, name_long, place_long,
    person_link, token_used."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Signature:
    email: str
    name: str
    locale: str  # the page's language: confirmation mail, alerts
    bodies: Mapping[str, str]  # letter language -> the body as the volunteer left it
    variants: Mapping[str, int]  # letter language -> the variant shown
    target_ids: Sequence[str]  # ActionTarget public ids from the form
    city: str = ""
    country: str = ""
    reply_ok: bool = False
    wants_alerts: bool = False


# --- stored personal data ------------------------------------------------------------------


def _encrypt(letter: Letter, column: str, value: str) -> bytes:
    return cipher().encrypt(value, table=TABLE, column=column, row=letter.public_id)


def _decrypt(letter: Letter, column: str, blob: bytes) -> str:
    return cipher().decrypt(blob, table=TABLE, column=column, row=letter.public_id)


def fold_index(address: str) -> bytes:
    return blind_index().digest(fold(address), purpose="letter-folded")


def email_of(letter: Letter) -> str:
    return _decrypt(letter, "email", letter.email_enc)


def person_of(letter: Letter) -> Person:
    data = json.loads(_decrypt(letter, "person", letter.person_enc))
    return Person(name=data.get("name", ""), city=data.get("city", ""),
                  country=data.get("country", ""))


def content_of(letter: Letter) -> dict[str, dict[str, Any]]:
    """{letter language: {"subject", "body", "variant"}} as the volunteer signed it."""
    loaded: dict[str, dict[str, Any]] = json.loads(
        _decrypt(letter, "content", letter.content_enc))
    return loaded


def clean_person(name: str, city: str, country: str) -> Person:
    person = Person(strip_controls(name), strip_controls(city), strip_controls(country))
    if not person.name:
        raise SigningError("name_missing")
    if len(person.name) > NAME_MAX:
        raise SigningError("name_long")
    if len(person.city) > PLACE_MAX or len(person.country) > PLACE_MAX:
        raise SigningError("place_long")
    try:  # the name goes into the signature and the sender's display name: no links there
        check_links(" ".join((person.name, person.city, person.country)))
    except LetterTextError as exc:
        raise SigningError("person_link") from exc
    return person


# --- what the form may name ----------------------------------------------------------------


def letter_plan(action: Action,
                modes: frozenset[str] | None = None) -> dict[str, list[ActionTarget]]:
    """Letter language -> the reachable targets written to in it (platform and mailto)."""
    plan: dict[str, list[ActionTarget]] = {}
    for at in action.targets:
        if (modes is None or at.mode in modes) and reachable(at):
            plan.setdefault(letter_locale(action, at), []).append(at)
    return plan


def chosen_targets(action: Action, target_ids: Sequence[str]) -> list[ActionTarget]:
    """The targets the form names. Anything the page did not offer (another action's target,
    a mailto target, an unreachable one, an unknown id) means a tampered form."""
    offered = {at.public_id: at for at in platform_targets(action) if reachable(at)}
    if any(pid not in offered for pid in target_ids):
        raise SigningError("tampered")
    chosen = [offered[pid] for pid in dict.fromkeys(target_ids)]
    if not chosen:
        raise SigningError("no_target" if not offered else "tampered")
    return chosen


def check_variant(action: Action, locale: str, index: int) -> None:
    if not 0 <= index < len(action.variants_in(locale)):
        raise SigningError("tampered")


def compose_letters(action: Action, locales: Sequence[str], bodies: Mapping[str, str],
                    variants: Mapping[str, int], person: Person) -> dict[str, dict[str, Any]]:
    """The final subject and body per letter language. Raises SigningError("tampered") for a
    missing body or variant, LetterTextError (with ``locale``) for a refused body."""
    content: dict[str, dict[str, Any]] = {}
    for locale in locales:
        if locale not in bodies or locale not in variants:
            raise SigningError("tampered")
        check_variant(action, locale, variants[locale])
        variant = variant_for(action, locale, variants[locale])
        assert variant is not None  # noqa: S101 - check_variant found it
        try:
            body = clean_body(bodies[locale])
        except LetterTextError as exc:
            exc.locale = locale
            raise
        subject, text = finish(action, locale, variant.subject, body, person)
        content[locale] = {"subject": subject, "body": text, "variant": variant.position}
    return content


# --- signing -------------------------------------------------------------------------------


def _require_open(action: Action, now: dt.datetime) -> None:
    state = open_state(action, now)
    if state is not OpenState.OPEN:
        raise SigningError(state.value)


def sign(session: SessionLike, action: Action, signature: Signature,
         now: dt.datetime | None = None) -> str:
    """Record a signature and mail a confirmation link. Returns what happened (for tests
    and logs only): new, pending, pending-throttled, confirmed."""
    now = now or utcnow()
    _require_open(action, now)
    chosen = chosen_targets(action, signature.target_ids)
    person = clean_person(signature.name, signature.city, signature.country)
    locales = sorted({letter_locale(action, at) for at in chosen})
    content = compose_letters(action, locales, signature.bodies, signature.variants, person)
    address = normalise(signature.email)
    folded = fold_index(address)
    letter = session.scalar(select(Letter).where(Letter.action_id == action.id,
                                                 Letter.fold_index == folded))
    if letter is not None and letter.status == LetterStatus.CONFIRMED.value:
        return "confirmed"  # a second signature by the same mailbox sends nothing
    outcome = "pending"
    if letter is None:
        letter = Letter(public_id=public_id(), action_id=action.id, fold_index=folded,
                        status=LetterStatus.PENDING.value, created_at=now)
        outcome = "new"
    letter.locale = signature.locale
    letter.email_enc = _encrypt(letter, "email", address)
    letter.person_enc = _encrypt(letter, "person", json.dumps(
        {"name": person.name, "city": person.city, "country": person.country},
        ensure_ascii=False))
    letter.content_enc = _encrypt(letter, "content", json.dumps(content, ensure_ascii=False))
    letter.target_ids = [at.id for at in chosen]
    letter.reply_ok, letter.wants_alerts = signature.reply_ok, signature.wants_alerts
    if outcome == "new":
        try:
            with session.begin_nested():
                session.add(letter)
        except IntegrityError:
            return "pending-throttled"  # the same mailbox signed at the same moment
    if letter.confirm_sent_at is not None and now - letter.confirm_sent_at < RESEND_AFTER:
        session.flush()
        return "pending-throttled"
    send_confirmation(session, action, letter, address, now)
    return outcome


def confirm_token(letter: Letter) -> str:
    return sign_link({"l": letter.public_id, "n": letter.confirm_nonce}, LINK_PURPOSE)


def send_confirmation(session: SessionLike, action: Action, letter: Letter, address: str,
                      now: dt.datetime) -> None:
    letter.confirm_nonce = secrets.token_urlsafe(12)
    letter.confirm_sent_at = now
    session.flush()
    base = current_app.extensions["campaign.config"].base_url
    text = action.text(letter.locale)
    mail.queue_message(
        session,
        template="actions/confirm",
        to_address=address,
        locale=letter.locale,
        # Fixed text and the organiser's title only: nothing the form received is echoed.
        context={
            "confirm_url": base + url_for("actions.confirm", lang=letter.locale,
                                          slug=action.slug, token=confirm_token(letter)),
            "title": text.title if text and text.title else "",
        },
        dedupe_key=f"letter-confirm:{letter.public_id}:{letter.confirm_nonce}",
    )


def find_letter(session: SessionLike, pid: str) -> Letter | None:
    return session.scalar(select(Letter).where(Letter.public_id == pid))


def confirm(session: SessionLike, letter: Letter, nonce: str,
            now: dt.datetime | None = None) -> list[LetterDelivery]:
    """The POST behind the confirmation link: the letter is queued to each target it names.
    A nonce works once."""
    now = now or utcnow()
    if (letter.status != LetterStatus.PENDING.value or not letter.confirm_nonce
            or not secrets.compare_digest(letter.confirm_nonce, nonce)):
        raise SigningError("token_used")
    action = letter.action
    _require_open(action, now)
    letter.status = LetterStatus.CONFIRMED.value
    letter.confirmed_at = now
    letter.confirm_nonce = None
    content = content_of(letter)
    deliveries = []
    for at in action.targets:
        if at.id not in letter.target_ids or at.mode == DeliveryMode.MAILTO.value:
            continue
        locale = letter_locale(action, at)
        if locale not in content:
            continue  # the organiser changed the language since: this letter cannot go there
        slot = None
        if at.mode == DeliveryMode.DIGEST.value:
            status = DeliveryStatus.WAITING
        elif reachable(at):
            status = DeliveryStatus.SCHEDULED
            slot = schedule.allocate(session, at.target, now)
        else:
            status = DeliveryStatus.HELD
        delivery = LetterDelivery(letter=letter, action_target=at, target_id=at.target_id,
                                  mode=at.mode, locale=locale, status=status.value,
                                  next_attempt_at=slot, created_at=now, updated_at=now)
        session.add(delivery)
        deliveries.append(delivery)
    session.flush()
    for delivery in deliveries:
        if delivery.next_attempt_at is not None and delivery.next_attempt_at <= now:
            jobs.enqueue_send_letter(session, delivery.id)
    if letter.wants_alerts:
        _subscribe(session, letter)
    return deliveries


def _subscribe(session: SessionLike, letter: Letter) -> None:
    """The volunteer ticked "also receive alerts": the subscribers' own double opt-in."""
    from campaign.subscribers import services as subscribers

    person = person_of(letter)
    subscribers.subscribe(session, subscribers.SignupRequest(
        email=email_of(letter), name=person.name, locale=letter.locale, all_alerts=True,
        case_ids=(), form="action"))


def purge_unconfirmed(session: SessionLike, now: dt.datetime | None = None) -> int:
    """Unconfirmed letters are deleted after 72 hours, with their confirmation mail rows."""
    now = now or utcnow()
    old = session.scalars(select(Letter).where(
        Letter.status == LetterStatus.PENDING.value,
        Letter.created_at < now - UNCONFIRMED_RETENTION)).all()
    for letter in old:
        delete_confirmation_mail(session, letter)
        session.delete(letter)
    session.flush()
    return len(old)


def delete_confirmation_mail(session: SessionLike, letter: Letter) -> None:
    session.execute(delete(OutgoingMessage).where(
        OutgoingMessage.dedupe_key.like(f"letter-confirm:{letter.public_id}:%")))
