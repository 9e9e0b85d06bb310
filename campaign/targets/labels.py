"""What organisers read for the codes stored on targets and channels (lazy: translated when
rendered, in the organiser's language)."""

from __future__ import annotations

from typing import Final

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from campaign.targets.models import (
    ChannelState,
    ChannelType,
    DeliveryMode,
    Institution,
    LetterPolicy,
    Origin,
    SourceQuality,
    Target,
)

INSTITUTIONS: Final[dict[str, LazyString]] = {
    # Translators: the Organization for Security and Co-operation in Europe.
    Institution.OSCE.value: _l("OSCE"),
    # Translators: the European Union (here: the European Parliament).
    Institution.EU.value: _l("European Union"),
    Institution.UN.value: _l("United Nations"),
}

# Kinds are free codes in the file; these are the ones it uses today (others show as codes).
KINDS: Final[dict[str, LazyString]] = {
    "special_procedure": _l("UN special procedure"),
    "treaty_body": _l("UN treaty body"),
    "institution": _l("Institution"),
    "parliament_committee": _l("Parliament committee"),
    "demo": _l("Demo (fictional)"),
}

POLICIES: Final[dict[str, LazyString]] = {
    LetterPolicy.LETTERS.value: _l("Letters"),
    LetterPolicy.DIGEST_ONLY.value: _l("Digest only"),
    LetterPolicy.SUBMISSIONS_ONLY.value: _l("Submissions only"),
}

POLICY_EXPLANATIONS: Final[dict[str, LazyString]] = {
    LetterPolicy.LETTERS.value: _l(
        "Supporters' letters may go individually, in a digest, or from the volunteer's own "
        "mail program."),
    LetterPolicy.DIGEST_ONLY.value: _l(
        "This body takes documented case submissions, not floods of identical mail. "
        "Supporters' letters reach it only inside one digest per period, which an organiser "
        "reviews and approves before it is sent."),
    LetterPolicy.SUBMISSIONS_ONLY.value: _l(
        "Supporters cannot write to this body. It is a legal body that takes only complaints "
        "filed by victims or their lawyers with written consent, and shadow reports for "
        "periodic reviews. Letters from supporters would harm the case; an organiser's "
        "documented submission is the way to reach it."),
}

INACTIVE_EXPLANATION: Final = _l(
    "This body is no longer in the directory file. It is kept for its history but cannot be "
    "chosen for actions.")

MODES: Final[dict[str, LazyString]] = {
    DeliveryMode.INDIVIDUAL.value: _l("individual letters"),
    DeliveryMode.DIGEST.value: _l("digest"),
    DeliveryMode.MAILTO.value: _l("volunteer's own mail program"),
}

CHANNEL_TYPES: Final[dict[str, LazyString]] = {
    ChannelType.EMAIL.value: _l("Email"),
    ChannelType.WEB_FORM.value: _l("Web form"),
    ChannelType.WEB_PAGE.value: _l("Web page"),
    ChannelType.POSTAL.value: _l("Postal address"),
}

SOURCE_QUALITIES: Final[dict[str, LazyString]] = {
    SourceQuality.OFFICIAL.value: _l("official page"),
    SourceQuality.OFFICIAL_DATED.value: _l("official, but dated"),
    SourceQuality.OFFICIAL_MIRROR.value: _l("copy of an official page"),
    SourceQuality.SECONDARY.value: _l("third-party page"),
}

STATES: Final[dict[str, LazyString]] = {
    ChannelState.UNVERIFIED.value: _l("unverified"),
    ChannelState.VERIFIED.value: _l("verified"),
    ChannelState.FAILING.value: _l("failing"),
    ChannelState.RETIRED.value: _l("retired"),
}

ORIGINS: Final[dict[str, LazyString]] = {
    Origin.IMPORTED.value: _l("from the directory file"),
    Origin.ORGANISER.value: _l("added by an organiser"),
}

CHANNEL_ERRORS: Final[dict[str, LazyString]] = {
    "retired": _l("This channel has been retired; its state can no longer change."),
    "reason_missing": _l("Please say why the channel is failing."),
    "type": _l("Please choose a channel type."),
    "quality": _l("Please choose how the source was found."),
    "value": _l("This value is not valid for the chosen type: an email address, an http(s) "
                "address for web forms and pages, one line of text for a postal address."),
    "source": _l("The source must be the http(s) address of the page that shows this channel."),
    "duplicate": _l("This target already has this channel."),
}


def label(table: dict[str, LazyString], code: str) -> str:
    """The label of ``code``, or the code itself when the table does not know it."""
    found = table.get(code)
    return str(found) if found is not None else code


def not_selectable_reason(target: Target) -> LazyString | None:
    """Why supporters' letters cannot be addressed to ``target`` at all, or None."""
    if not target.active:
        return INACTIVE_EXPLANATION
    if target.letter_policy == LetterPolicy.SUBMISSIONS_ONLY.value:
        return POLICY_EXPLANATIONS[LetterPolicy.SUBMISSIONS_ONLY.value]
    return None
