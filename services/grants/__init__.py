"""Emergency ("break-glass") access to a child outside one's scope (DESIGN.md §2, §4)."""
