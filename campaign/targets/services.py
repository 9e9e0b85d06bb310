"""Rules of the targets directory: importing the file, verifying channels, letter policies.

Functions flush and never commit; the view or command that calls them commits.

The platform sends to no channel until an organiser has checked it on the body's live page
and marked it verified; a changed address is a new, unverified channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select

from campaign.admin.models import Organiser
from campaign.admin.services import audit
from campaign.db import SessionLike, utcnow
from campaign.targets.models import (
    ChannelState,
    ChannelType,
    DeliveryMode,
    Institution,
    LetterPolicy,
    Origin,
    SourceQuality,
    Target,
    TargetChannel,
)
from campaign.targets.spec import (
    MAX_VALUE,
    ChannelSpec,
    TargetDataError,
    TargetSpec,
    check_url,
    check_value,
    parse_targets,
)
from campaign.text import strip_controls

__all__ = [
    "ChannelError",
    "ImportReport",
    "TargetDataError",
    "add_channel",
    "allowed_delivery_modes",
    "directory",
    "display_name",
    "find_channel",
    "find_target",
    "import_targets",
    "mark_failing",
    "name_sort_key",
    "sendable_email_channel",
    "verify_channel",
]

POLICY_MODES: Final[dict[str, frozenset[str]]] = {
    LetterPolicy.LETTERS.value: frozenset(
        {DeliveryMode.INDIVIDUAL.value, DeliveryMode.DIGEST.value, DeliveryMode.MAILTO.value}
    ),
    LetterPolicy.DIGEST_ONLY.value: frozenset({DeliveryMode.DIGEST.value}),
    LetterPolicy.SUBMISSIONS_ONLY.value: frozenset(),
}

INSTITUTION_ORDER: Final = (Institution.OSCE.value, Institution.EU.value, Institution.UN.value)


class ChannelError(ValueError):
    """A channel rule was broken; ``code`` names which, for the view to translate:
    retired, reason_missing, type, quality, value, source, duplicate."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- import ----------------------------------------------------------------------------------


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)  # includes reactivated keys
    reactivated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    new_channels: list[tuple[str, str]] = field(default_factory=list)  # (target key, type)
    retired_channels: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deactivated or self.new_channels
                    or self.retired_channels)

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "deactivated": len(self.deactivated),
            "unchanged": len(self.unchanged),
            "new_channels": len(self.new_channels),
            "retired_channels": len(self.retired_channels),
        }


def import_targets(session: SessionLike, data: Any) -> ImportReport:
    """Bring the directory in line with the parsed file ``data`` (see ``spec.parse_targets``).

    New keys are added; changed fields updated; imported targets whose key is gone are
    deactivated, never deleted. Channels match on (type, value): a changed value retires the
    old channel (its verification kept as history) and adds a new unverified one. Channels
    added by organisers and the state of unchanged channels are never touched. Running it
    twice with the same file changes nothing the second time. Raises TargetDataError (and
    changes nothing) when the file is invalid.
    """
    specs = parse_targets(data)
    report = ImportReport()
    now = utcnow()
    existing = {t.key: t for t in session.scalars(select(Target))}
    for spec in specs:
        target = existing.get(spec.key)
        if target is None:
            target = Target(key=spec.key, origin=Origin.IMPORTED.value, active=True,
                            created_at=now, updated_at=now)
            _apply_fields(target, spec)
            session.add(target)
            _sync_channels(target, spec.channels, now, report)
            report.added.append(spec.key)
            continue
        changed = _apply_fields(target, spec)
        if target.origin != Origin.IMPORTED.value:  # the file now owns this key
            target.origin = Origin.IMPORTED.value
            changed = True
        if not target.active:
            target.active = True
            report.reactivated.append(spec.key)
            changed = True
        changed = _sync_channels(target, spec.channels, now, report) or changed
        if changed:
            target.updated_at = now
            report.updated.append(spec.key)
        else:
            report.unchanged.append(spec.key)
    keys = {spec.key for spec in specs}
    for key, target in existing.items():
        if key not in keys and target.active and target.origin == Origin.IMPORTED.value:
            target.active = False
            target.updated_at = now
            report.deactivated.append(key)
    if report.changed:
        audit(session, "targets.imported", object_type="targets", detail=report.counts())
    session.flush()
    return report


def _set(target: Target, name: str, value: Any) -> bool:
    if getattr(target, name) == value:
        return False
    setattr(target, name, value)
    return True


def _apply_fields(target: Target, spec: TargetSpec) -> bool:
    values: dict[str, Any] = {
        "institution": spec.institution,
        "kind": spec.kind,
        "name_en": spec.name_en,
        "name_ru": spec.name_ru,
        "name_tg": spec.name_tg,
        "languages": list(spec.languages),
        "timezone": spec.timezone,
        "letter_policy": spec.letter_policy,
        "accepts": list(spec.accepts),
        "requires_consent": spec.requires_consent,
        "notes": spec.notes,
    }
    if spec.caps is not None:
        caps = spec.caps
        values.update(
            letters_per_hour=caps.letters_per_hour,
            office_start=caps.office_start,
            office_end=caps.office_end,
            office_days=list(caps.office_days) if caps.office_days is not None else None,
        )
    changed = False
    for name, value in values.items():
        changed = _set(target, name, value) or changed
    return changed


def _sync_channels(target: Target, specs: Iterable[ChannelSpec], now: datetime,
                   report: ImportReport) -> bool:
    live = [c for c in target.channels if not c.retired]
    matched: list[TargetChannel] = []
    changed = False
    for spec in specs:
        match = next((c for c in live if c.type == spec.type and c.value == spec.value
                      and not any(c is m for m in matched)), None)
        if match is None:
            target.channels.append(TargetChannel(
                type=spec.type, value=spec.value, source_url=spec.source_url,
                source_quality=spec.source_quality, origin=Origin.IMPORTED.value,
                state=ChannelState.UNVERIFIED.value, created_at=now,
            ))
            report.new_channels.append((target.key, spec.type))
            changed = True
            continue
        matched.append(match)
        if match.origin == Origin.IMPORTED.value and (
            match.source_url != spec.source_url or match.source_quality != spec.source_quality
        ):
            # Same address, better documented: the verification still holds.
            match.source_url = spec.source_url
            match.source_quality = spec.source_quality
            changed = True
    for channel in live:
        if channel.origin == Origin.IMPORTED.value and not any(channel is m for m in matched):
            channel.state = ChannelState.RETIRED.value
            channel.retired_at = now
            report.retired_channels.append((target.key, channel.type))
            changed = True
    return changed


# --- verification ----------------------------------------------------------------------------


def verify_channel(session: SessionLike, channel: TargetChannel, organiser: Organiser | None,
                   *, ip: str | None = None) -> None:
    """An organiser checked the channel on the body's live page (None: the system, for demo
    data). Records who and when on the channel and in the audit log."""
    if channel.retired:
        raise ChannelError("retired")
    previous = channel.state
    channel.state = ChannelState.VERIFIED.value
    channel.verified_by_id = organiser.id if organiser is not None else None
    channel.verified_at = utcnow()
    audit(session, "target_channel.verified", actor=organiser, object_type="target_channel",
          object_id=channel.public_id, ip=ip,
          detail={"target": channel.target.key, "type": channel.type, "previous": previous,
                  "by": "organiser" if organiser is not None else "system"})
    session.flush()


def mark_failing(session: SessionLike, channel: TargetChannel, reason: str, *,
                 actor: Organiser | None = None, ip: str | None = None) -> None:
    """The channel bounced or was found wrong: nothing is sent to it until verified again.
    ``reason`` must not carry personal data (scrub SMTP replies before passing them)."""
    if channel.retired:
        raise ChannelError("retired")
    note = strip_controls(reason)[:MAX_VALUE]
    if not note:
        raise ChannelError("reason_missing")
    previous = channel.state
    channel.state = ChannelState.FAILING.value
    channel.failure_note = note
    channel.failed_at = utcnow()
    audit(session, "target_channel.failing", actor=actor, object_type="target_channel",
          object_id=channel.public_id, ip=ip,
          detail={"target": channel.target.key, "type": channel.type, "previous": previous,
                  "reason": note})
    session.flush()


def add_channel(session: SessionLike, target: Target, *, channel_type: str, value: str,
                source_url: str, source_quality: str, organiser: Organiser | None,
                ip: str | None = None) -> TargetChannel:
    """An organiser-found channel: kept across imports, unverified until someone checks it."""
    if channel_type not in {t.value for t in ChannelType}:
        raise ChannelError("type")
    if source_quality not in {q.value for q in SourceQuality}:
        raise ChannelError("quality")
    cleaned = check_value(channel_type, value)
    if cleaned is None:
        raise ChannelError("value")
    source = check_url(source_url)
    if source is None:
        raise ChannelError("source")
    if any(c.type == channel_type and c.value == cleaned and not c.retired
           for c in target.channels):
        raise ChannelError("duplicate")
    channel = TargetChannel(type=channel_type, value=cleaned, source_url=source,
                            source_quality=source_quality, origin=Origin.ORGANISER.value,
                            state=ChannelState.UNVERIFIED.value, created_at=utcnow())
    target.channels.append(channel)
    session.flush()
    audit(session, "target_channel.added", actor=organiser, object_type="target_channel",
          object_id=channel.public_id, ip=ip,
          detail={"target": target.key, "type": channel_type})
    return channel


# --- policy ----------------------------------------------------------------------------------


def allowed_delivery_modes(target: Target) -> set[str]:
    """The delivery modes an action may use for ``target``: ``letters`` allows individual
    letters, digests and the volunteer's own mail program; ``digest_only`` only an
    organiser-approved digest; ``submissions_only`` (treaty bodies) nothing. A deactivated
    target allows nothing either."""
    if not target.active:
        return set()
    return set(POLICY_MODES.get(target.letter_policy, frozenset()))


def sendable_email_channel(target: Target) -> TargetChannel | None:
    """The verified email channel mail may go to (the most recently verified), or None."""
    if not target.active:
        return None
    verified = [c for c in target.channels
                if c.type == ChannelType.EMAIL.value and c.verified and c.verified_at]
    if not verified:
        return None
    return max(verified, key=lambda c: (c.verified_at, c.id or 0))


# --- queries ---------------------------------------------------------------------------------


def display_name(target: Target, locale: str) -> str:
    """The target's name in ``locale`` (en, ru, tg), falling back to English."""
    return target.name(locale)


def find_target(session: SessionLike, target_public_id: str) -> Target | None:
    return session.scalar(select(Target).where(Target.public_id == target_public_id))


def find_channel(session: SessionLike, channel_public_id: str) -> TargetChannel | None:
    return session.scalar(select(TargetChannel).where(
        TargetChannel.public_id == channel_public_id))


# Russian and Tajik Cyrillic in one order: Tajik's extra letters follow their base letters
# (Ғ after Г, Ӣ after И, Қ after К, Ӯ after У, Ҳ after Х, Ҷ after Ч), not after Я.
_CYRILLIC: Final = "абвгғдеёжзиӣйкқлмнопрстуӯфхҳцчҷшщъыьэюя"
_RANK: Final = {ch: i for i, ch in enumerate(_CYRILLIC)}


def name_sort_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for names in en, ru and tg: Latin first, then Cyrillic in alphabet order."""
    key: list[tuple[int, int | str]] = []
    for ch in text.casefold():
        rank = _RANK.get(ch)
        key.append((1, rank) if rank is not None else (0, ch))
    return tuple(key)


def directory(session: SessionLike, locale: str) -> list[tuple[str, list[Target]]]:
    """Targets grouped by institution (OSCE, EU, UN), active ones first, then by name."""
    targets = session.scalars(select(Target)).all()
    groups: list[tuple[str, list[Target]]] = []
    for institution in INSTITUTION_ORDER:
        members = [t for t in targets if t.institution == institution]
        members.sort(key=lambda t: (not t.active, name_sort_key(t.name(locale))))
        if members:
            groups.append((institution, members))
    return groups
