"""Reading and checking ``data/targets.yaml`` before anything is written.

The whole file is checked first; any error stops the import and nothing changes. Every error
names the entry (by key, or by position when the key itself is missing or wrong). Messages are
for the operator who runs the command, in English like the rest of the CLI.

Pure module: no Flask, no database.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from campaign.addresses import AddressError, normalise
from campaign.targets.models import ChannelType, Institution, LetterPolicy, SourceQuality
from campaign.text import strip_controls

KEY: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")
LANGUAGE: Final = re.compile(r"[a-z]{2,3}")
HHMM: Final = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME_LOCALES: Final = ("en", "ru", "tg")
MAX_VALUE: Final = 500
MAX_NAME: Final = 300

ENTRY_FIELDS: Final = frozenset({
    "key", "institution", "kind", "name", "languages", "timezone", "letter_policy", "accepts",
    "requires_consent", "notes", "channels", "caps",
})
CHANNEL_FIELDS: Final = frozenset({"type", "value", "source", "source_quality"})


class TargetDataError(ValueError):
    """The file cannot be imported; ``errors`` lists every problem found, each naming its entry."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Caps:
    letters_per_hour: int | None = None
    office_start: time | None = None
    office_end: time | None = None
    office_days: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ChannelSpec:
    type: str
    value: str
    source_url: str
    source_quality: str


@dataclass(frozen=True)
class TargetSpec:
    key: str
    institution: str
    kind: str
    name_en: str
    name_ru: str | None
    name_tg: str | None
    languages: tuple[str, ...]
    timezone: str
    letter_policy: str
    accepts: tuple[str, ...]
    requires_consent: bool
    notes: str
    channels: tuple[ChannelSpec, ...]
    # None: the entry says nothing about caps, and whatever is stored stays.
    caps: Caps | None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a field given twice in one mapping (PyYAML keeps the last)."""


def _unique_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # an unhashable key: construct_mapping reports it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"the field {key!r} appears twice", key_node.start_mark)
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_file(path: Path) -> Any:
    """The parsed YAML of ``path``; unreadable or malformed files raise TargetDataError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TargetDataError([f"cannot read the file ({exc.__class__.__name__})"]) from exc
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        detail = f": {' '.join(str(problem).split())}" if problem else ""
        raise TargetDataError([f"not valid YAML{where}{detail}"]) from exc


def parse_targets(data: Any) -> list[TargetSpec]:
    """Check the parsed file; return one spec per entry or raise TargetDataError."""
    if not isinstance(data, list):
        raise TargetDataError(["the file must be a list of targets (entries starting with '-')"])
    errors: list[str] = []
    specs: list[TargetSpec] = []
    seen: set[str] = set()
    for position, entry in enumerate(data, start=1):
        entry_errors: list[str] = []
        spec = _parse_entry(entry, entry_errors)
        label = _label(entry, position)
        errors.extend(f"{label}: {e}" for e in entry_errors)
        if spec is not None and not entry_errors:
            if spec.key in seen:
                errors.append(f"{label}: the key appears more than once")
            seen.add(spec.key)
            specs.append(spec)
    if errors:
        raise TargetDataError(errors)
    return specs


def _label(entry: Any, position: int) -> str:
    if not isinstance(entry, dict):
        return f"entry {position}"
    key = entry.get("key")
    if isinstance(key, str) and KEY.fullmatch(key):
        return f"entry '{key}'"
    name = entry.get("name")
    english = name.get("en") if isinstance(name, dict) else None
    if isinstance(english, str) and english.strip():
        return f"entry {position} ({strip_controls(english)[:60]})"
    return f"entry {position}"


def _choice(value: Any, allowed: type[Institution | LetterPolicy | ChannelType | SourceQuality],
            field: str, errors: list[str]) -> str:
    names = [m.value for m in allowed]
    if not isinstance(value, str) or value not in names:
        errors.append(f"unknown {field} {value!r} (expected one of: {', '.join(names)})")
        return ""
    return value


def _text(value: Any, field: str, errors: list[str], *, required: bool = True,
          limit: int = MAX_NAME) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not strip_controls(value):
        errors.append(f"{field} is missing or empty")
        return None
    text = strip_controls(value)
    if len(text) > limit:
        errors.append(f"{field} is longer than {limit} characters")
        return None
    return text


def _keys(value: Any, field: str, pattern: re.Pattern[str], errors: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and pattern.fullmatch(v) for v in value
    ):
        errors.append(f"{field} must be a list of codes like {pattern.pattern!r}")
        return ()
    if len(set(value)) != len(value):
        errors.append(f"{field} lists a code twice")
    return tuple(value)


def _parse_entry(entry: Any, errors: list[str]) -> TargetSpec | None:
    if not isinstance(entry, dict):
        errors.append("each entry must be a mapping of fields")
        return None
    unknown = sorted(str(k) for k in entry if k not in ENTRY_FIELDS)
    if unknown:
        errors.append(f"unknown field(s): {', '.join(unknown)}")
    missing = [f for f in ("key", "institution", "kind", "name", "languages", "timezone",
                           "letter_policy") if f not in entry]
    if missing:
        errors.append(f"missing required field(s): {', '.join(missing)}")
        return None

    key = entry["key"]
    if not isinstance(key, str) or not KEY.fullmatch(key):
        errors.append(f"key {key!r} must be lower-case letters, digits and '_' (at most 64)")
    kind = entry["kind"]
    if not isinstance(kind, str) or not KEY.fullmatch(kind):
        errors.append(f"kind {kind!r} must be a lower-case code such as 'special_procedure'")
    names = _names(entry["name"], errors)
    languages = _keys(entry["languages"], "languages", LANGUAGE, errors)
    if not languages and isinstance(entry["languages"], list):
        errors.append("languages must name at least one working language")
    timezone = _timezone(entry["timezone"], errors)
    requires_consent = entry.get("requires_consent", False)
    if not isinstance(requires_consent, bool):
        errors.append("requires_consent must be true or false")
    notes = entry.get("notes") or ""
    if not isinstance(notes, str):
        errors.append("notes must be text")
        notes = ""
    channels = entry.get("channels") or []
    if not isinstance(channels, list):
        errors.append("channels must be a list")
        channels = []
    parsed = [_parse_channel(raw, f"channel {i}", errors) for i, raw in enumerate(channels, 1)]
    seen: set[tuple[str, str]] = set()
    for i, channel in enumerate(parsed, start=1):
        if channel is not None and (channel.type, channel.value) in seen:
            errors.append(f"channel {i}: repeats an earlier channel")
        elif channel is not None:
            seen.add((channel.type, channel.value))
    spec = TargetSpec(
        key=str(key),
        institution=_choice(entry["institution"], Institution, "institution", errors),
        kind=str(kind),
        name_en=names.get("en") or "",
        name_ru=names.get("ru"),
        name_tg=names.get("tg"),
        languages=languages,
        timezone=timezone,
        letter_policy=_choice(entry["letter_policy"], LetterPolicy, "letter_policy", errors),
        accepts=_keys(entry.get("accepts") or [], "accepts", KEY, errors),
        requires_consent=bool(requires_consent),
        notes=unicodedata.normalize("NFC", notes).strip(),
        channels=tuple(c for c in parsed if c is not None),
        caps=_caps(entry["caps"], errors) if "caps" in entry else None,
    )
    return spec


def _names(value: Any, errors: list[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        errors.append("name must be a mapping of language codes to names (en required)")
        return {}
    unknown = sorted(str(k) for k in value if k not in NAME_LOCALES)
    if unknown:
        errors.append(f"name has unknown language(s): {', '.join(unknown)} (use en, ru, tg)")
    names: dict[str, str] = {}
    for code in NAME_LOCALES:
        text = _text(value.get(code), f"name.{code}", errors, required=code == "en")
        if text is not None:
            names[code] = text
    return names


def _timezone(value: Any, errors: list[str]) -> str:
    if not isinstance(value, str) or not value:
        errors.append("timezone is missing")
        return ""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(f"unknown timezone {value!r} (use an IANA name such as 'Europe/Zurich')")
        return ""
    return value


def check_url(value: Any) -> str | None:
    """An http(s) URL with a host, or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > MAX_VALUE or any(ch.isspace() or ord(ch) < 32 for ch in text):
        return None
    match = re.fullmatch(r"https?://([^/?#@\s]+)([/?#].*)?", text, flags=re.IGNORECASE)
    if match is None or "." not in match.group(1):
        return None
    return text


def check_value(channel_type: str, value: Any) -> str | None:
    """The cleaned channel value for its type, or None when it is not acceptable."""
    if not isinstance(value, str):
        return None
    if channel_type == ChannelType.EMAIL.value:
        try:
            return normalise(value)
        except AddressError:
            return None
    if channel_type in (ChannelType.WEB_FORM.value, ChannelType.WEB_PAGE.value):
        return check_url(value)
    text = strip_controls(value)
    return text if text and len(text) <= MAX_VALUE else None


def _parse_channel(raw: Any, label: str, errors: list[str]) -> ChannelSpec | None:
    if not isinstance(raw, dict):
        errors.append(f"{label}: must be a mapping with type, value, source, source_quality")
        return None
    channel_errors: list[str] = []
    unknown = sorted(str(k) for k in raw if k not in CHANNEL_FIELDS)
    if unknown:
        channel_errors.append(f"unknown field(s): {', '.join(unknown)}")
    channel_type = _choice(raw.get("type"), ChannelType, "type", channel_errors)
    quality = _choice(raw.get("source_quality"), SourceQuality, "source_quality",
                      channel_errors)
    value = check_value(channel_type, raw.get("value")) if channel_type else ""
    if value is None:
        channel_errors.append(f"value {raw.get('value')!r} is not a valid {channel_type}")
    source = check_url(raw.get("source"))
    if source is None:
        channel_errors.append("source must be the http(s) address of the page that shows it")
    if channel_errors:
        errors.extend(f"{label}: {e}" for e in channel_errors)
        return None
    assert value is not None and source is not None  # noqa: S101 - checked just above
    return ChannelSpec(type=channel_type, value=value, source_url=source,
                       source_quality=quality)


def _time(value: Any, field: str, errors: list[str]) -> time | None:
    if not isinstance(value, str) or not HHMM.fullmatch(value):
        errors.append(f'{field} must be a time like "09:00", in quotes')
        return None
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _caps(value: Any, errors: list[str]) -> Caps:
    if value is None:
        return Caps()
    if not isinstance(value, dict) or set(value) - {"letters_per_hour", "office_hours"}:
        errors.append("caps may only hold letters_per_hour and office_hours")
        return Caps()
    per_hour = value.get("letters_per_hour")
    if per_hour is not None and (
        isinstance(per_hour, bool) or not isinstance(per_hour, int) or not 1 <= per_hour <= 10000
    ):
        errors.append("caps.letters_per_hour must be a whole number from 1 to 10000")
        per_hour = None
    hours = value.get("office_hours")
    if hours is None:
        return Caps(letters_per_hour=per_hour)
    if not isinstance(hours, dict) or set(hours) != {"start", "end", "days"}:
        errors.append("caps.office_hours needs exactly start, end and days")
        return Caps(letters_per_hour=per_hour)
    start = _time(hours["start"], "caps.office_hours.start", errors)
    end = _time(hours["end"], "caps.office_hours.end", errors)
    if start is not None and end is not None and start >= end:
        errors.append("caps.office_hours.start must be before end")
    days = _days(hours["days"], errors)
    return Caps(letters_per_hour=per_hour, office_start=start, office_end=end, office_days=days)


def _days(value: Any, errors: list[str]) -> tuple[int, ...]:
    result: set[int] = set()
    if isinstance(value, list) and value:
        for day in value:
            if isinstance(day, str) and day.lower() in WEEKDAYS:
                result.add(WEEKDAYS.index(day.lower()) + 1)
            elif isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 7:
                result.add(day)
            else:
                result.clear()
                break
    if not result:
        errors.append("caps.office_hours.days must list weekdays (1-7 or mon..sun)")
    return tuple(sorted(result))
