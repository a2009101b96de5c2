"""Every page type of the UI, with who opens it, for the accessibility and language sweeps."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PageType:
    name: str
    user: str | None  # None: signed out
    path: str  # may hold {placeholders} filled from the scenario's ids


def english_messages(min_length: int = 14) -> set[str]:
    """English messages long enough that finding one on a kk or ru page means it was not translated."""
    with (ROOT / "services/translations/kk/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh, locale="kk")
    found = set()
    for m in catalog:
        if not m.id or not isinstance(m.id, str) or "%(" in m.id or len(m.id) < min_length:
            continue
        if m.string and m.string != m.id:
            found.add(m.id)
    return found
