"""What organisers see of an action's letters: by status, by target, by day, and a chart of
letters per day drawn by the server as SVG (no script, nothing fetched). Counts include
what is left of letters whose personal data was reduced (``action_tallies``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Final

from markupsafe import Markup, escape
from sqlalchemy import func, select

from campaign.actions.models import (
    Action,
    ActionTally,
    ActionTarget,
    Letter,
    LetterDelivery,
    LetterStatus,
)
from campaign.db import SessionLike

CHART_DAYS: Final = 60


@dataclass(frozen=True)
class ActionStats:
    letters: dict[str, int]  # pending / confirmed
    by_target: list[tuple[ActionTarget, dict[str, int]]]
    by_day: list[tuple[dt.date, int]]  # confirmed letters per day, oldest first

    @property
    def confirmed(self) -> int:
        return self.letters.get(LetterStatus.CONFIRMED.value, 0)


def _tallies(session: SessionLike, action: Action) -> list[ActionTally]:
    return list(session.scalars(select(ActionTally).where(ActionTally.action_id == action.id)))


def collect(session: SessionLike, action: Action) -> ActionStats:
    tallies = _tallies(session, action)
    letters: Counter[str] = Counter({LetterStatus.PENDING.value: 0,
                                     LetterStatus.CONFIRMED.value: 0})
    for status, count in session.execute(
            select(Letter.status, func.count()).where(Letter.action_id == action.id)
            .group_by(Letter.status)):
        letters[str(status)] += int(count)
    per_target: dict[int, Counter[str]] = {at.target_id: Counter() for at in action.targets}
    for target_id, status, count in session.execute(
            select(LetterDelivery.target_id, LetterDelivery.status, func.count())
            .join(Letter).where(Letter.action_id == action.id)
            .group_by(LetterDelivery.target_id, LetterDelivery.status)):
        per_target.setdefault(int(target_id), Counter())[str(status)] += int(count)
    days: Counter[dt.date] = Counter()
    for (confirmed_at,) in session.execute(
            select(Letter.confirmed_at).where(Letter.action_id == action.id,
                                              Letter.status == LetterStatus.CONFIRMED.value)):
        if confirmed_at is not None:
            days[confirmed_at.date()] += 1
    for tally in tallies:
        if tally.target_id is None:
            letters[tally.status] += tally.count
            if tally.status == LetterStatus.CONFIRMED.value:
                days[tally.day] += tally.count
        else:
            per_target.setdefault(tally.target_id, Counter())[tally.status] += tally.count
    by_target = [(at, dict(per_target.get(at.target_id, Counter()))) for at in action.targets]
    return ActionStats(letters=dict(letters), by_target=by_target, by_day=_fill(days))


def _fill(days: Counter[dt.date]) -> list[tuple[dt.date, int]]:
    """Every day from the first letter to the last (at most CHART_DAYS), zeros included."""
    if not days:
        return []
    last = max(days)
    first = max(min(days), last - dt.timedelta(days=CHART_DAYS - 1))
    span = (last - first).days + 1
    return [(first + dt.timedelta(days=i), days.get(first + dt.timedelta(days=i), 0))
            for i in range(span)]


def chart_svg(series: list[tuple[dt.date, int]], title: str, width: int = 640,
              height: int = 200) -> Markup:
    """Bars of letters per day. Accessible: a title, and each bar's date and count as its
    own title; the table next to it on the page gives the same numbers."""
    if not series:
        return Markup("")
    top = max(count for _day, count in series) or 1
    pad_left, pad_bottom, pad_top = 36, 24, 8
    plot_w, plot_h = width - pad_left - 4, height - pad_bottom - pad_top
    step = plot_w / len(series)
    bar = max(step * 0.8, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="chart-title" class="chart">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 4}" '
        f'y2="{pad_top + plot_h}" stroke="#6b6b63"/>',
        f'<text x="{pad_left - 4}" y="{pad_top + 10}" text-anchor="end" '
        f'font-size="11">{top}</text>',
        f'<text x="{pad_left - 4}" y="{pad_top + plot_h}" text-anchor="end" '
        f'font-size="11">0</text>',
    ]
    for i, (day, count) in enumerate(series):
        h = plot_h * count / top
        x = pad_left + i * step + (step - bar) / 2
        y = pad_top + plot_h - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                     f'fill="#0b4f8a"><title>{day.isoformat()}: {count}</title></rect>')
    for i in sorted({0, len(series) - 1}):
        x = pad_left + i * step + step / 2
        anchor = "start" if i == 0 else "end"
        parts.append(f'<text x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}" '
                     f'font-size="11">{series[i][0].isoformat()}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, ISO dates and an escaped title
