"""Deadlines as clocks, their escalation ladder, professional disagreements and region settings
(DESIGN.md §3; README.md in this folder)."""
