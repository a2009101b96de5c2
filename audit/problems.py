"""What verification finds: problems, each naming the event or checkpoint it concerns."""
from __future__ import annotations

from dataclasses import dataclass, field

# Problems a chain pins to one event exactly (the rest name the first event a failed
# checkpoint no longer vouches for).
CHAIN_KINDS = frozenset({"missing_events", "duplicate_or_reordered", "broken_link",
                         "altered_event"})


@dataclass(frozen=True)
class Problem:
    """One thing that does not fit, with the event or checkpoint it concerns."""

    kind: str
    message: str
    chain: int | None = None
    seq: int | None = None
    event_id: int | None = None
    checkpoint_id: int | None = None

    def __str__(self) -> str:
        where = []
        if self.event_id is not None:
            where.append(f"event {self.event_id}")
        if self.chain is not None:
            where.append(f"chain {self.chain}" + (f" seq {self.seq}" if self.seq else ""))
        if self.checkpoint_id is not None:
            where.append(f"checkpoint {self.checkpoint_id}")
        return f"{self.kind}: {', '.join(where)}: {self.message}"


@dataclass
class Report:
    """The outcome of a verification; ``ok`` when nothing was found."""

    events: int = 0
    chains: int = 0
    checkpoints: int = 0
    signatures_checked: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_event(self) -> Problem | None:
        """The problem naming the earliest bad event: one a chain pins down exactly if there is
        any, else the first event a failed checkpoint no longer vouches for."""
        named = [p for p in self.problems if p.event_id is not None]
        exact = [p for p in named if p.kind in CHAIN_KINDS]
        return min(exact or named, key=lambda p: p.event_id) if named else None
