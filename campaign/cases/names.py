"""Names of people: matching across spellings and scripts, URL slugs, Tajik sort order.

Nothing here is ever shown to anyone: the folded forms exist only to match a search against
the stored spellings. The stored and displayed names are exactly what the organiser typed
(NFC-normalised).

Folding, in order:

1. NFC, then ``casefold`` (works for Cyrillic, unlike SQLite's ``lower()``);
2. the Tajik letters onto their Russian base letters: ғ→г, қ→к, ҳ→х, ҷ→ч, ӣ→и, ӯ→у (ё→е);
3. Cyrillic transliterated to Latin, so "Холиқназаров" meets "Kholiqnazarov";
4. Latin spelling variants merged: q→k, gh→g, kh→h, dzh/zh→j, yo/yu/ya→o/u/a, iy→i, x→h, …;
5. apostrophes dropped, other punctuation and whitespace runs collapsed to one space.

Variants that folding cannot merge (Irgashov / Irgashev) are what aliases are for.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

_TAJIK_TO_RUSSIAN: Final = str.maketrans(
    {"ғ": "г", "қ": "к", "ҳ": "х", "ҷ": "ч", "ӣ": "и", "ӯ": "у", "ё": "е"}
)

_CYRILLIC_TO_LATIN: Final = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch",
    "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip

# Applied in this order to the Latin text (after transliteration, so both scripts meet).
_LATIN_VARIANTS: Final = (
    ("dzh", "j"),
    ("zh", "j"),
    ("kh", "h"),
    ("gh", "g"),
    ("q", "k"),
    ("x", "h"),
    ("w", "v"),
    ("yo", "o"),
    ("yu", "u"),
    ("ya", "a"),
    ("ye", "e"),
    ("iy", "i"),
    ("y", "i"),
)
_APOSTROPHES: Final = re.compile("['\u2019\u02bc\u02bb`\u00b4]")
_NOT_WORD: Final = re.compile(r"[\W_]+")


def fold(text: str) -> str:
    """The matching form of a name or a query (see the module docstring)."""
    value = unicodedata.normalize("NFC", text).casefold()
    value = value.translate(_TAJIK_TO_RUSSIAN)
    value = "".join(_CYRILLIC_TO_LATIN.get(ch, ch) for ch in value)
    # Strip accents a Latin spelling may carry (Khūjand, Şahzoda); keep other scripts whole.
    value = "".join(
        ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch)
    )
    for old, new in _LATIN_VARIANTS:
        value = value.replace(old, new)
    value = _APOSTROPHES.sub("", value)
    return _NOT_WORD.sub(" ", value).strip()


def search_text(forms: list[str]) -> str:
    """What a case is found by: every spelling, folded, one per line."""
    seen: list[str] = []
    for form in forms:
        folded = fold(form)
        if folded and folded not in seen:
            seen.append(folded)
    return "\n".join(seen)


def slugify(text: str, fallback: str = "case") -> str:
    """A readable ASCII slug for URLs ("Jamshed Namunaev" → "jamshed-namunaev")."""
    value = unicodedata.normalize("NFC", text).casefold().translate(_TAJIK_TO_RUSSIAN)
    value = "".join(_CYRILLIC_TO_LATIN.get(ch, ch) for ch in value)
    value = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    value = _APOSTROPHES.sub("", value)
    value = re.sub(r"[^a-z0-9]+", "-", value).strip("-")
    return value[:80].rstrip("-") or fallback


# The Tajik alphabet, with the Russian letters Tajik lacks (ц щ ы ь) in their Russian places:
# each Tajik letter sorts right after its base letter, not after я as code points would.
CYRILLIC_ORDER: Final = "абвгғдеёжзиӣйкқлмнопрстуӯфхҳцчҷшщъыьэюя"
_RANK: Final = {ch: i for i, ch in enumerate(CYRILLIC_ORDER)}
_AFTER: Final = len(CYRILLIC_ORDER)


def sort_key(name: str) -> tuple[tuple[int, int], ...]:
    """Sort key for names in Cyrillic (Tajik or Russian) and Latin alike.

    Cyrillic letters take their rank in ``CYRILLIC_ORDER``; Latin letters, digits and anything
    else follow by code point. Case is ignored; use the name itself as a tie-breaker.
    """
    key: list[tuple[int, int]] = []
    for ch in unicodedata.normalize("NFC", name).casefold():
        rank = _RANK.get(ch)
        if rank is not None:
            key.append((1, rank))
        elif ch.isspace():
            key.append((0, 0))  # "Али Ҷ…" before "Алиш…": words sort before longer words
        else:
            key.append((2, _AFTER + ord(ch)))
    return tuple(key)
