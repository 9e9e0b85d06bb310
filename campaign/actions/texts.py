"""The letter itself: placeholders, the volunteer's edits, the language it is written in, the
signature. Organiser text is data (campaign.text.substitute), never a Jinja template.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from flask_babel import force_locale
from flask_babel import gettext as _

from campaign.actions.models import BODY_MAX, Action, ActionTarget, ActionVariant
from campaign.cases.labels import status_label
from campaign.cases.models import Case
from campaign.cases.services import display_name, pick_text
from campaign.i18n import DEFAULT_LOCALE
from campaign.text import check_placeholders, substitute

VOLUNTEER_PLACEHOLDERS: Final = ("volunteer_name", "city", "country")
CASE_PLACEHOLDERS: Final = ("case_name", "case_status", "detention_place", "charges",
                            "sentence")
PLACEHOLDERS: Final = VOLUNTEER_PLACEHOLDERS + CASE_PLACEHOLDERS
BODY_MIN = 20

# A link in any form a mail program or a reader would follow: a scheme, "www.", or a host
# name ending in a common top-level domain. Letters to institutions carry no links.
_SCHEME: Final = re.compile(r"\b[a-z][a-z0-9+.-]{1,20}:(//|[^\s]*@)", re.IGNORECASE)
_WWW: Final = re.compile(r"\bwww\d?\.", re.IGNORECASE)
_HOST: Final = re.compile(
    r"\b(?:[a-z0-9-]+\.)+(?:com|org|net|info|biz|ru|tj|su|io|me|co|eu|int|gov|edu|uk|de|"
    r"fr|ch|at|nl|be|se|no|pl|ua|kz|kg|uz|tm|by|am|ge|az|tr|us|ly|to|tk|cc|tv|xyz|онлайн|"
    r"рф)(?:[/:?#]|\b)",
    re.IGNORECASE,
)
_PUNYCODE: Final = re.compile(r"\bxn--", re.IGNORECASE)
# Markup: anything that opens an HTML/XML tag, comment or declaration.
_TAG: Final = re.compile(r"<\s*[/!?]?\s*[a-z]", re.IGNORECASE)
_CONTROL: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e"
                             "\u2066-\u2069\u200e\u200f\u061c\ufeff]")


class LetterTextError(ValueError):
    """The volunteer's letter is refused; ``code``: empty, long, link, markup, control,
    placeholder (``tokens`` lists the offending ones)."""

    def __init__(self, code: str, tokens: Sequence[str] = ()) -> None:
        super().__init__(code)
        self.code = code
        self.tokens = list(tokens)
        self.locale: str | None = None  # which letter, when there are several


def clean_body(raw: str) -> str:
    """The volunteer's body as stored: NFC, LF line breaks, no trailing spaces, no controls
    (refused, not silently dropped: they could hide text). Raises LetterTextError."""
    text = unicodedata.normalize("NFC", raw.replace("\r\n", "\n").replace("\r", "\n"))
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    if len(text.strip()) < BODY_MIN:
        raise LetterTextError("empty")
    if len(text) > BODY_MAX:
        raise LetterTextError("long")
    if _CONTROL.search(text.replace("\t", " ")):
        raise LetterTextError("control")
    check_links(text)
    problems = check_placeholders(text, PLACEHOLDERS)
    if problems:
        raise LetterTextError("placeholder", problems)
    return text


def check_links(text: str) -> None:
    """Letters to institutions carry no links and no markup (LetterTextError otherwise)."""
    if _SCHEME.search(text) or _WWW.search(text) or _HOST.search(text) or _PUNYCODE.search(
            text):
        raise LetterTextError("link")
    if _TAG.search(text):
        raise LetterTextError("markup")


def organiser_problems(text: str) -> list[str]:
    """Unknown or malformed placeholders in an organiser's subject or body."""
    return check_placeholders(text, PLACEHOLDERS)


# --- languages -----------------------------------------------------------------------------


def letter_locale(action: Action, action_target: ActionTarget) -> str:
    """The language of the letters to this target: the organiser's choice if the action has
    a letter in it, else the target's first working language the action has a letter in,
    else English (or, without an English letter, the first language it has)."""
    available = action.letter_locales
    chosen = action_target.letter_locale
    if chosen and chosen in available:
        return chosen
    for code in action_target.target.languages or []:
        if code in available:
            return str(code)
    if DEFAULT_LOCALE in available or not available:
        return DEFAULT_LOCALE
    return available[0]


def variant_for(action: Action, locale: str, index: int) -> ActionVariant | None:
    variants = action.variants_in(locale)
    if not variants:
        return None
    return variants[index] if 0 <= index < len(variants) else variants[0]


# --- values --------------------------------------------------------------------------------


def public_cases(action: Action) -> list[Case]:
    """Cases the letter may name: only those whose family consented and that are public."""
    return [case for case in action.cases if case.is_public]


def case_values(action: Action, locale: str) -> dict[str, str]:
    """Values of the case placeholders in ``locale`` (facts of the first public case)."""
    cases = public_cases(action)
    with force_locale(locale):
        if not cases:
            generic = _("the Pamiri political prisoners")
            return {"case_name": generic, "case_status": "", "detention_place": "",
                    "charges": "", "sentence": ""}
        first = cases[0]
        facts = pick_text(first.texts, locale, lambda t: t.has_facts)
        return {
            "case_name": ", ".join(display_name(case, locale) for case in cases),
            "case_status": status_label(first.status).lower(),
            "detention_place": facts.detention_place if facts else "",
            "charges": facts.charges if facts else "",
            "sentence": facts.sentence if facts else "",
        }


def keep_volunteer_tokens() -> dict[str, str]:
    """Volunteer placeholders left as they are (filled in once the volunteer signs)."""
    return {name: "{{ " + name + " }}" for name in VOLUNTEER_PLACEHOLDERS}


@dataclass(frozen=True)
class Prefill:
    locale: str
    index: int
    subject: str
    body: str


def prefill(action: Action, locale: str, index: int) -> Prefill | None:
    """The letter as shown to a volunteer: case facts filled in, their own details not yet."""
    variant = variant_for(action, locale, index)
    if variant is None:
        return None
    values = {**case_values(action, locale), **keep_volunteer_tokens()}
    return Prefill(locale=locale, index=variant.position,
                   subject=substitute(variant.subject, values, PLACEHOLDERS),
                   body=substitute(variant.body, values, PLACEHOLDERS))


@dataclass(frozen=True)
class Person:
    name: str
    city: str = ""
    country: str = ""


def finish(action: Action, locale: str, subject_template: str, body: str,
           person: Person) -> tuple[str, str]:
    """The subject and body as sent: every placeholder filled in."""
    values = {**case_values(action, locale), "volunteer_name": person.name,
              "city": person.city, "country": person.country}
    return (" ".join(substitute(subject_template, values, PLACEHOLDERS).split()),
            substitute(body, values, PLACEHOLDERS))


def signature(person: Person) -> str:
    place = ", ".join(part for part in (person.city, person.country) if part)
    return "\n".join(part for part in (person.name, place) if part)


def letter_text(locale: str, body: str, person: Person, reply_ok: bool,
                campaign_name: str) -> str:
    """The body sent to an institution: the letter, the signature, one line saying how it
    came (in the letter's language)."""
    with force_locale(locale):
        if reply_ok:
            footer = _("Sent through %(campaign)s at the request of the signer, who confirmed "
                       "this letter by email. Replies reach the signer.",
                       campaign=campaign_name)
        else:
            footer = _("Sent through %(campaign)s at the request of the signer, who confirmed "
                       "this letter by email. The signer's address is not shared; replies "
                       "reach the campaign.", campaign=campaign_name)
    return f"{body}\n\n{signature(person)}\n\n-- \n{footer}\n"


def from_name(locale: str, name: str, campaign_name: str) -> str:
    with force_locale(locale):
        # Translators: the sender shown to an institution: "Gulnora Karimova via Pamir
        # Solidarity". The mail comes from the campaign's own address.
        return _("%(name)s via %(campaign)s", name=name, campaign=campaign_name)
