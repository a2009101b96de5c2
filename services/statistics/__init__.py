"""Statistics for the regional coordination council and oversight (DESIGN.md §1, §4, §7): referrals
by week, district and category; deadline compliance; time to first contact; priorities and
screening outcomes. Counts only, computed in PostgreSQL (migrations/versions/0012_statistics.py),
with small counts suppressed for the council (``suppression``)."""
