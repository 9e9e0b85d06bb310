"""Words for the codes stored on actions, letters and digests, and the messages for the
errors the services raise (lazy: translated when rendered, in the reader's language)."""

from __future__ import annotations

from typing import Final

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_babel.speaklater import LazyString

from campaign.actions.models import DeliveryStatus, DigestPeriod, DigestStatus, LetterStatus

LETTER_STATUSES: Final[dict[str, LazyString]] = {
    LetterStatus.PENDING.value: lazy_pgettext("letter status", "waiting for confirmation"),
    LetterStatus.CONFIRMED.value: lazy_pgettext("letter status", "confirmed"),
}

DELIVERY_STATUSES: Final[dict[str, LazyString]] = {
    DeliveryStatus.SCHEDULED.value: lazy_pgettext("letter status", "scheduled"),
    DeliveryStatus.SENDING.value: lazy_pgettext("letter status", "sending"),
    DeliveryStatus.SENT.value: lazy_pgettext("letter status", "sent"),
    DeliveryStatus.HELD.value: lazy_pgettext("letter status", "held: no verified address"),
    DeliveryStatus.REVIEW.value: lazy_pgettext("letter status", "outcome unknown: to review"),
    DeliveryStatus.FAILED.value: lazy_pgettext("letter status", "failed"),
    DeliveryStatus.CANCELLED.value: lazy_pgettext("letter status", "cancelled"),
    DeliveryStatus.WAITING.value: lazy_pgettext("letter status", "waiting for the digest"),
    DeliveryStatus.IN_DIGEST.value: lazy_pgettext("letter status", "in a digest"),
}

DIGEST_STATUSES: Final[dict[str, LazyString]] = {
    DigestStatus.DRAFT.value: lazy_pgettext("digest status", "awaiting approval"),
    DigestStatus.APPROVED.value: lazy_pgettext("digest status", "approved, to be sent"),
    DigestStatus.SENDING.value: lazy_pgettext("digest status", "sending"),
    DigestStatus.SENT.value: lazy_pgettext("digest status", "sent"),
    DigestStatus.REVIEW.value: lazy_pgettext("digest status", "outcome unknown: to review"),
    DigestStatus.FAILED.value: lazy_pgettext("digest status", "failed"),
}

PERIODS: Final[dict[str, LazyString]] = {
    DigestPeriod.DAILY.value: _l("daily digest"),
    DigestPeriod.WEEKLY.value: _l("weekly digest"),
}

ACTION_ERRORS: Final[dict[str, LazyString]] = {
    "slug": _l("The address part must be 3 to 80 small Latin letters, digits or hyphens."),
    "slug_taken": _l("Another action already uses this address part."),
    "goal": _l("The goal must be a positive number."),
    "dates": _l("The closing date must come after the opening date."),
    "too_long": _l("One of the texts is too long."),
    "variant_incomplete": _l("Each letter needs both a subject and a body."),
    "too_many_variants": _l("At most three wordings per language."),
    "placeholder": _l("Unknown or malformed placeholders: %(detail)s"),
    "link": _l("Letters to institutions carry no links (%(detail)s)."),
    "markup": _l("Letters to institutions carry no markup (%(detail)s)."),
    "target_unknown": _l("One of the targets does not exist."),
    "mode": _l("This delivery mode is not allowed by the policy of %(detail)s."),
    "period": _l("Please choose daily or weekly for the digest to %(detail)s."),
    "letter_locale": _l("Please choose a letter language for %(detail)s."),
    "target_in_use": _l("Letters already went to %(detail)s; it stays part of the action."),
    "case_unknown": _l("One of the cases does not exist."),
    "no_title": _l("A published action needs a title."),
    "no_letter": _l("A published action needs a letter in at least one language."),
    "no_target": _l("A published action needs at least one target."),
}

SIGNING_ERRORS: Final[dict[str, LazyString]] = {
    "draft": _l("This action is not open."),
    "not_yet": _l("This action is not open yet. Please come back when it opens."),
    "closed": _l("This action has closed. Thank you for your support."),
    "no_target": _l("None of the institutions of this action can receive letters right now. "
                    "Nothing was sent. Please try again later."),
    "name_missing": _l("Please enter your name: the institution needs to know who writes."),
    "name_long": _l("The name is too long (200 characters at most)."),
    "place_long": _l("The city or country is too long (100 characters at most)."),
    "person_link": _l("Please remove links, web and email addresses and tags from your name, "
                      "city and country."),
    "token_used": _l("This confirmation link has already been used or replaced by a newer "
                     "one."),
}

BODY_ERRORS: Final[dict[str, LazyString]] = {
    "empty": _l("Please write the letter: it is empty or too short."),
    "long": _l("The letter is too long: 5000 characters at most, about one page."),
    "link": _l("Please remove the links and web or email addresses: institutions discard "
               "letters with links."),
    "markup": _l("Please remove the angle-bracket tags such as <b>: the letter is sent as "
                 "plain text."),
    "control": _l("Please remove the invisible or control characters."),
    "placeholder": _l("Please remove these or write them out: %(tokens)s"),
}


def label(table: dict[str, LazyString], code: str, **values: str) -> str:
    found = table.get(code)
    if found is None:
        return code
    return str(found) % values if values else str(found)
