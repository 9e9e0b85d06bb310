"""Rules of actions as organisers write them: texts in three languages, variants, cases,
targets with their delivery modes, dates, publication, institutions' replies.

Functions flush and never commit; the view or command that calls them commits. The volunteer's
side is in ``campaign.actions.signing``, delivery in ``campaign.actions.delivery``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from sqlalchemy import func, select

from campaign.actions.models import (
    BODY_MAX,
    INTRO_MAX,
    REFERENCE_MAX,
    SLUG_MAX,
    SUBJECT_MAX,
    TITLE_MAX,
    VARIANTS_MAX,
    Action,
    ActionStatus,
    ActionTally,
    ActionTarget,
    ActionText,
    ActionVariant,
    Digest,
    DigestPeriod,
    Letter,
    LetterDelivery,
    LetterStatus,
)
from campaign.actions.texts import LetterTextError, check_links, organiser_problems
from campaign.admin.models import Organiser
from campaign.admin.services import audit
from campaign.cases.models import Case
from campaign.db import SessionLike, utcnow
from campaign.i18n import LOCALES
from campaign.targets.models import DeliveryMode, Target
from campaign.targets.services import allowed_delivery_modes, sendable_email_channel
from campaign.text import render_markdown, strip_controls

SLUG: Final = re.compile(rf"[a-z0-9](?:[a-z0-9-]{{1,{SLUG_MAX - 2}}}[a-z0-9])")
GOAL_MAX: Final = 10_000_000
PLATFORM_MODES: Final = frozenset({DeliveryMode.INDIVIDUAL.value, DeliveryMode.DIGEST.value})


class ActionError(ValueError):
    """A rule was broken; ``code`` names which (for the view to translate); ``detail`` says
    where (a language, a target's key, the offending placeholders)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


class OpenState(StrEnum):
    DRAFT = "draft"
    NOT_YET = "not_yet"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class VariantFields:
    subject: str = ""
    body: str = ""


@dataclass(frozen=True)
class TextFields:
    title: str = ""
    introduction: str = ""
    variants: Sequence[VariantFields] = ()


@dataclass(frozen=True)
class TargetChoice:
    target_public_id: str
    mode: str
    digest_period: str | None = None
    letter_locale: str | None = None


@dataclass(frozen=True)
class ActionFields:
    slug: str
    goal: int | None = None
    opens_at: dt.datetime | None = None
    closes_at: dt.datetime | None = None
    case_ids: Sequence[int] = field(default_factory=tuple)


# --- saving ----------------------------------------------------------------------------------


def _check_fields(session: SessionLike, action: Action | None, fields: ActionFields) -> None:
    if not SLUG.fullmatch(fields.slug):
        raise ActionError("slug")
    taken = session.scalar(select(Action.id).where(Action.slug == fields.slug))
    if taken is not None and (action is None or taken != action.id):
        raise ActionError("slug_taken")
    if fields.goal is not None and not 0 < fields.goal <= GOAL_MAX:
        raise ActionError("goal")
    if fields.opens_at and fields.closes_at and fields.closes_at <= fields.opens_at:
        raise ActionError("dates")


def _clean_texts(texts: Mapping[str, TextFields]) -> dict[str, TextFields]:
    cleaned: dict[str, TextFields] = {}
    for code in LOCALES:
        given = texts.get(code)
        if given is None:
            continue
        title = strip_controls(given.title)
        if len(title) > TITLE_MAX or len(given.introduction) > INTRO_MAX:
            raise ActionError("too_long", code)
        variants = []
        for variant in given.variants:
            subject, body = strip_controls(variant.subject), variant.body.strip()
            if not subject and not body:
                continue
            if not subject or not body:
                raise ActionError("variant_incomplete", code)
            if len(subject) > SUBJECT_MAX or len(body) > BODY_MAX:
                raise ActionError("too_long", code)
            problems = organiser_problems(subject) + organiser_problems(body)
            if problems:
                raise ActionError("placeholder", ", ".join(dict.fromkeys(problems)))
            try:
                check_links(body)
            except LetterTextError as exc:
                raise ActionError(exc.code, code) from exc
            variants.append(VariantFields(subject, body.replace("\r\n", "\n")))
        if len(variants) > VARIANTS_MAX:
            raise ActionError("too_many_variants", code)
        cleaned[code] = TextFields(title, given.introduction.replace("\r\n", "\n").strip(),
                                   tuple(variants))
    return cleaned


def _apply_texts(action: Action, texts: Mapping[str, TextFields]) -> None:
    for code, values in texts.items():
        row = action.text(code)
        if row is None:
            row = ActionText(locale=code)
            action.texts.append(row)
        row.title = values.title
        row.introduction = values.introduction
        row.introduction_html = render_markdown(values.introduction)
        # Rows are reused by position: (action, locale, position) is unique, and a flush
        # inserts before it deletes.
        old = action.variants_in(code)
        for position, variant in enumerate(values.variants):
            if position < len(old):
                old[position].subject, old[position].body = variant.subject, variant.body
            else:
                action.variants.append(ActionVariant(locale=code, position=position,
                                                     subject=variant.subject,
                                                     body=variant.body))
        for extra in old[len(values.variants):]:
            action.variants.remove(extra)


def _apply_targets(session: SessionLike, action: Action,
                   choices: Sequence[TargetChoice]) -> None:
    existing = {at.target.public_id: at for at in action.targets}
    kept: list[ActionTarget] = []
    for position, choice in enumerate(choices):
        target = session.scalar(select(Target).where(Target.public_id ==
                                                     choice.target_public_id))
        if target is None:
            raise ActionError("target_unknown")
        if choice.mode not in allowed_delivery_modes(target):
            raise ActionError("mode", target.key)
        period = choice.digest_period if choice.mode == DeliveryMode.DIGEST.value else None
        if choice.mode == DeliveryMode.DIGEST.value and period not in set(DigestPeriod):
            raise ActionError("period", target.key)
        if choice.letter_locale is not None and choice.letter_locale not in LOCALES:
            raise ActionError("letter_locale", target.key)
        row = existing.pop(target.public_id, None) or ActionTarget(target=target)
        row.position, row.mode, row.digest_period = position, choice.mode, period
        row.letter_locale = choice.letter_locale
        kept.append(row)
    for removed in existing.values():
        if removed.id is not None and _in_use(session, removed):
            raise ActionError("target_in_use", removed.target.key)
    action.targets[:] = kept


def _in_use(session: SessionLike, action_target: ActionTarget) -> bool:
    """Letters or digests already went (or wait to go) to this target: it stays."""
    return session.scalar(select(LetterDelivery.id).where(
        LetterDelivery.action_target_id == action_target.id).limit(1)) is not None or \
        session.scalar(select(Digest.id).where(
            Digest.action_target_id == action_target.id).limit(1)) is not None


def save_action(session: SessionLike, action: Action | None, fields: ActionFields,
                texts: Mapping[str, TextFields], targets: Sequence[TargetChoice],
                actor: Organiser | None) -> Action:
    """Create (``action`` None) or update an action. Raises ActionError and changes nothing
    the caller commits when a rule is broken (the caller rolls back)."""
    _check_fields(session, action, fields)
    cleaned = _clean_texts(texts)
    cases = list(session.scalars(select(Case).where(Case.id.in_(list(fields.case_ids)))))
    if len(cases) != len(set(fields.case_ids)):
        raise ActionError("case_unknown")
    created = action is None
    if action is None:
        action = Action(status=ActionStatus.DRAFT.value, created_at=utcnow())
        session.add(action)
    action.slug, action.goal = fields.slug, fields.goal
    action.opens_at, action.closes_at = fields.opens_at, fields.closes_at
    action.cases[:] = cases
    _apply_texts(action, cleaned)
    _apply_targets(session, action, targets)
    action.updated_at = utcnow()
    if action.status == ActionStatus.PUBLISHED.value:
        check_publishable(action)
    session.flush()
    audit(session, "action.created" if created else "action.updated", actor=actor,
          object_type="action", object_id=action.public_id)
    return action


def check_publishable(action: Action) -> None:
    if not any(t.title for t in action.texts):
        raise ActionError("no_title")
    if not action.variants:
        raise ActionError("no_letter")
    if not action.targets:
        raise ActionError("no_target")


def set_published(session: SessionLike, action: Action, published: bool,
                  actor: Organiser | None) -> None:
    if published:
        check_publishable(action)
    action.status = (ActionStatus.PUBLISHED if published else ActionStatus.DRAFT).value
    action.updated_at = utcnow()
    audit(session, "action.published" if published else "action.unpublished", actor=actor,
          object_type="action", object_id=action.public_id)
    session.flush()


def record_reply(session: SessionLike, action_target: ActionTarget, on: dt.date | None,
                 reference: str, actor: Organiser | None) -> None:
    """An institution answered: the date and its reference, shown on the public page."""
    cleaned = strip_controls(reference)
    if len(cleaned) > REFERENCE_MAX:
        raise ActionError("too_long")
    action_target.reply_date = on
    action_target.reply_reference = cleaned or None
    audit(session, "action.reply_recorded", actor=actor, object_type="action",
          object_id=action_target.action.public_id,
          detail={"target": action_target.target.key, "date": on.isoformat() if on else None})
    session.flush()


# --- reading ---------------------------------------------------------------------------------


def get_action(session: SessionLike, pid: str) -> Action | None:
    return session.scalar(select(Action).where(Action.public_id == pid))


def by_slug(session: SessionLike, slug: str) -> Action | None:
    """A published action (drafts are not public)."""
    return session.scalar(select(Action).where(Action.slug == slug,
                                               Action.status == ActionStatus.PUBLISHED.value))


def all_actions(session: SessionLike) -> list[Action]:
    return list(session.scalars(select(Action).order_by(Action.created_at.desc())))


def public_actions(session: SessionLike) -> list[Action]:
    return list(session.scalars(
        select(Action).where(Action.status == ActionStatus.PUBLISHED.value)
        .order_by(Action.opens_at.desc(), Action.created_at.desc())))


def open_state(action: Action, now: dt.datetime | None = None) -> OpenState:
    now = now or utcnow()
    if action.status != ActionStatus.PUBLISHED.value:
        return OpenState.DRAFT
    if action.opens_at is not None and now < action.opens_at:
        return OpenState.NOT_YET
    if action.closes_at is not None and now >= action.closes_at:
        return OpenState.CLOSED
    return OpenState.OPEN


def reachable(action_target: ActionTarget) -> bool:
    """Letters can go to this target now: its mode is still allowed by the target's policy
    and it has a verified email channel."""
    target = action_target.target
    return (action_target.mode in allowed_delivery_modes(target)
            and sendable_email_channel(target) is not None)


def platform_targets(action: Action) -> list[ActionTarget]:
    """Targets the platform writes to for the volunteer (individually or in a digest)."""
    return [at for at in action.targets if at.mode in PLATFORM_MODES]


def mailto_targets(action: Action) -> list[ActionTarget]:
    return [at for at in action.targets if at.mode == DeliveryMode.MAILTO.value]


def confirmed_count(session: SessionLike, action: Action) -> int:
    """The public counter: confirmed letters, including those reduced to counts."""
    live = session.scalar(select(func.count()).select_from(Letter).where(
        Letter.action_id == action.id, Letter.status == LetterStatus.CONFIRMED.value))
    tallied = session.scalar(select(func.coalesce(func.sum(ActionTally.count), 0)).where(
        ActionTally.action_id == action.id, ActionTally.target_id.is_(None),
        ActionTally.status == LetterStatus.CONFIRMED.value))
    return int(live or 0) + int(tallied or 0)
