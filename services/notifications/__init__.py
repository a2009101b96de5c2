"""In-app notifications and e-mail, delivered from the outbox (DESIGN.md §2, issue 5 item 5)."""
