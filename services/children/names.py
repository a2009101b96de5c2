"""Name normalisation, Cyrillic-Latin transliteration and similarity for duplicate detection."""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from difflib import SequenceMatcher
from typing import Protocol

# Two children born the same day whose names score at least this are offered to the user as the
# same child (DESIGN.md §2: possible duplicates are shown and merged by a person, never silently).
# Calibrated in tests/unit/test_names.py: a missing letter in a name of four or more letters, or
# a wrong one in a name of seven or more (Айгерим / Айгирим), still passes; twins with distinct
# first names (Аяжан / Аружан, 0.67) do not. A wrong letter in a short name (Дана / Дина, 0.75)
# is left to the user's own search, since such pairs are usually different names. Near-identical
# twin names (Алия / Алина) are offered; the user confirms "this is a different child".
SAME_CHILD_THRESHOLD = 0.85

_HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_APOSTROPHES = "'`\u00b4\u2018\u2019\u02bb\u02bc"
_DROP = str.maketrans("", "", _HYPHENS + _APOSTROPHES)

# Russian and Kazakh Cyrillic to a Latin skeleton, close to the ICAO passport transliteration
# used in Kazakhstan documents, so that the usual Latin spellings of a name land near it.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i",
    "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    # Kazakh letters.
    "ә": "a", "ғ": "g", "қ": "q", "ң": "ng", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
    # Ukrainian and Belarusian letters seen in Russian-language records.
    "є": "ye", "ї": "yi", "ґ": "g", "ў": "u",
}
# Kazakh Latin (2021) letters whose plain Latin form is more than the base letter.
_LATIN = {"ş": "sh", "ç": "ch", "ñ": "ng", "ı": "i", "ß": "ss", "æ": "ae", "ø": "o"}
_TRANSLIT = str.maketrans({**_CYRILLIC, **_LATIN})

# Applied in order to the Latin skeleton; each rule merges spellings of one sound.
_KEY_RULES = (
    (re.compile(r"zh"), "j"),      # Ж: "Zhanna" / Kazakh Latin "Janna"
    (re.compile(r"kh|q|(?<![cs])h"), "k"),  # Х, Қ, Һ, К: "Khasan"/"Hasan", "Qairat"/"Kairat"
    (re.compile(r"x"), "ks"),      # "Alexei" / "Aleksei"
    (re.compile(r"w"), "v"),
    (re.compile(r"\bye"), "e"),    # word-initial Е: "Yerlan" / "Erlan"
    (re.compile(r"(?<=[aeiouy])ye"), "e"),  # Е after a vowel: "Alekseyev" / "Alekseev"
    (re.compile(r"y"), "i"),       # Й, Ы, И, І: "Aygerim" / "Aigerim", "Dmitriy" / "Dmitrii"
    (re.compile(r"(.)\1+"), r"\1"),  # double letters: "Zhanna" / "Zhana", "Aliia" / "Alia"
)

# Kazakh and Russian surname endings that vary for the same family (Нурланова / Нурланқызы,
# Серікұлы / Сериков); compared after name_key, so they are already in key spelling.
_SURNAME_ENDINGS = re.compile(r"(?:ova|eva|ov|ev|uli|ulu|kizi)$")


class NamedChild(Protocol):
    """Anything with the fields duplicate detection compares."""

    last_name: str
    first_name: str
    date_of_birth: date | None


def normalise_name(s: str) -> str:
    """Casefold, trim, collapse spaces, ё→е, and drop hyphens and apostrophes."""
    s = unicodedata.normalize("NFC", s).casefold().replace("ё", "е").translate(_DROP)
    return " ".join(s.split())


def transliterate(s: str) -> str:
    """The normalised name in plain Latin letters; Latin input keeps its spelling without accents."""
    s = normalise_name(s).translate(_TRANSLIT)
    decomposed = unicodedata.normalize("NFKD", s)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_key(s: str) -> str:
    """A phonetic key of one name: equal for the common spellings of it in either script."""
    key = transliterate(s)
    for pattern, replacement in _KEY_RULES:
        key = pattern.sub(replacement, key)
    return "".join(c for c in key if c.isalpha())


def surname_key(s: str) -> str:
    """The name key of a surname without the endings that vary within a family."""
    key = name_key(s)
    stem = _SURNAME_ENDINGS.sub("", key)
    # Keep short surnames whole: "Ov" or "Ulu" alone are not stems.
    return stem if len(stem) >= 3 else key


def search_key(last: str, first: str) -> str:
    """A lower-case "surname firstname" key for an indexed column; equal keys mean equal names."""
    # Look up swapped fields by querying search_key(first, last) as well: order is kept so that
    # prefix searches by surname work on a btree index.
    # Latin and Cyrillic names give plain ASCII; letters of other scripts are kept as they are.
    return f"{surname_key(last)} {name_key(first)}"


def similar_names(a_last: str, a_first: str, b_last: str, b_first: str) -> float:
    """Similarity in [0, 1] of two full names, taking the better of the given and swapped order."""
    straight = min(_surname_ratio(a_last, b_last), _ratio(name_key(a_first), name_key(b_first)))
    # Forms often get first and last names the wrong way round; a swapped match counts fully.
    # Either field of a swapped pair may hold the surname, so both are compared as surnames.
    swapped = min(_surname_ratio(a_last, b_first), _surname_ratio(a_first, b_last))
    # Both names must be similar (min): twins share a surname and a birthday, not a first name.
    return max(straight, swapped)


def probably_same_child(a: NamedChild, b: NamedChild) -> bool:
    """True when both records have the same date of birth and similar names."""
    # Sex is deliberately not compared: a miskeyed sex must not hide a duplicate, and a false
    # candidate only costs the user one "this is a different child" confirmation.
    if a.date_of_birth is None or a.date_of_birth != b.date_of_birth:
        return False
    return similar_names(a.last_name, a.first_name, b.last_name, b.first_name) >= SAME_CHILD_THRESHOLD


def _surname_ratio(a: str, b: str) -> float:
    # The stem matches Нурланова with Нурланқызы; the whole key keeps a one-letter typo in a
    # short stem (Нурланова / Нурлонова) from weighing more than it does in the full surname.
    return max(_ratio(surname_key(a), surname_key(b)), _ratio(name_key(a), name_key(b)))


def _ratio(a: str, b: str) -> float:
    if not a or not b:
        return 0.0
    # SequenceMatcher's ratio depends on argument order; the larger one makes the score symmetric.
    forward = SequenceMatcher(None, a, b, autojunk=False).ratio()
    backward = SequenceMatcher(None, b, a, autojunk=False).ratio()
    return max(forward, backward)
