"""Audit reports for oversight and supervisors, over the API."""
