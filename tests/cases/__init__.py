"""Cases, chronology, assessments, approvals and emergency access through the HTTP API."""
