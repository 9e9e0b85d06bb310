"""Words shown for stored codes: the database keeps ``sentenced``, the page says it in the
reader's language."""

from __future__ import annotations

from typing import Final

from flask_babel import lazy_pgettext
from flask_babel.speaklater import LazyString

from campaign.cases.models import CaseStatus

STATUS_LABELS: Final[dict[str, LazyString]] = {
    # Translators: the status of a political prisoner's case.
    CaseStatus.DETAINED.value: lazy_pgettext("case status", "Detained"),
    # Translators: the status of a political prisoner's case.
    CaseStatus.SENTENCED.value: lazy_pgettext("case status", "Sentenced"),
    # Translators: the status of a political prisoner's case.
    CaseStatus.RELEASED.value: lazy_pgettext("case status", "Released"),
    # Translators: the status of a political prisoner's case: the person died in prison.
    CaseStatus.DIED_IN_CUSTODY.value: lazy_pgettext("case status", "Died in custody"),
    # Translators: the status of a political prisoner's case: whereabouts unknown.
    CaseStatus.DISAPPEARED.value: lazy_pgettext("case status", "Disappeared"),
}


def status_label(code: str) -> str:
    label = STATUS_LABELS.get(code)
    return str(label) if label is not None else code
