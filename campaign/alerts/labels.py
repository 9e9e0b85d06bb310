"""Words shown for the codes the database stores (statuses, reasons, errors). The database
keeps codes only; they are translated here, when a page is rendered."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

STATUSES: Mapping[str, LazyString] = {
    "draft": _l("Draft"),
    "awaiting_approval": _l("Waiting for a second organiser"),
    "approved": _l("Approved, ready to send"),
    "scheduled": _l("Scheduled"),
    "sending": _l("Sending"),
    "paused": _l("Paused"),
    "sent": _l("Sent"),
    "cancelled": _l("Cancelled"),
}

COMPLETENESS: Mapping[str, LazyString] = {
    "complete": _l("complete"),
    "partial": _l("incomplete: subject and message are both needed"),
    "missing": _l("not written"),
}

FAILURES: Mapping[str, LazyString] = {
    "bounce": _l("The address does not exist (5.1.x): suppressed"),
    "rejected": _l("Refused by the receiving server"),
    "policy": _l("Refused as a policy violation (5.7.x)"),
    "expired": _l("Temporary failures until the retry horizon"),
    "render": _l("The message could not be built"),
}

PAUSES: Mapping[str, LazyString] = {
    "organiser": _l("Paused by an organiser."),
    "policy": _l("Paused by itself: the relay refused many messages as policy violations "
                 "(5.7.x). Check the sending domain's reputation, DKIM and the content, "
                 "then resume."),
}

ERRORS: Mapping[str, LazyString] = {
    "too_long": _l("A subject or preheader is longer than 200 characters, or a message "
                   "longer than 50,000."),
    "audience": _l("Choose who receives the alert."),
    "rule": _l("Choose what subscribers without a translation get."),
    "languages": _l("Choose at least one language."),
    "no_cases": _l("Choose at least one case whose followers receive the alert."),
    "case": _l("That case does not exist."),
    "not_editable": _l("This alert can no longer be changed."),
    "placeholders": _l("Some placeholders are unknown. Fix them before sending."),
    "no_text": _l("No language has both a subject and a message yet."),
    "no_english": _l("Subscribers without a translation would get English, but the English "
                     "text is not complete."),
    "empty_audience": _l("Nobody would receive this alert."),
    "state": _l("The alert has changed in the meantime; nothing was done. Please look "
                "again."),
    "own": _l("You asked for this approval: a second organiser must give it."),
    "decided": _l("This request has already been decided."),
    "expired": _l("This request is too old; ask again."),
    "needs_approval": _l("A second organiser must approve this alert before it is sent."),
    "lockdown": _l("Sending is stopped during a lockdown."),
    "past": _l("Choose a time at least a minute from now."),
}


def label(table: Mapping[str, LazyString], code: str | None) -> str:
    if not code:
        return ""
    found = table.get(code)
    return str(found) if found is not None else code


def pause_reason(reason: str | None) -> tuple[str, str]:
    """(explanation, server reply) of a stored pause reason such as ``policy: 554 5.7.1 …``."""
    if not reason:
        return "", ""
    code, _, detail = reason.partition(": ")
    return label(PAUSES, code), detail
