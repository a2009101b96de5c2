"""Names for the ids a page shows (agencies, people), looked up once per page."""
from __future__ import annotations

from services.agencies import queries
from services.children import queries as child_queries


class Names:
    """Caches agency and user names for the lifetime of one page's transaction."""

    def __init__(self, conn):
        self.conn = conn
        self._agencies: dict[int, object] = {}
        self._users: dict[int, object] = {}
        self._children: dict[int, object] = {}

    def agency(self, agency_id: int | None) -> str:
        if agency_id is None:
            return ""
        if agency_id not in self._agencies:
            self._agencies[agency_id] = queries.get_agency(self.conn, agency_id)
        found = self._agencies[agency_id]
        return found.name if found else f"#{agency_id}"

    def user(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        if user_id not in self._users:
            self._users[user_id] = queries.get_user(self.conn, user_id)
        found = self._users[user_id]
        return found.full_name if found else f"#{user_id}"

    def child(self, child_id: int | None) -> str:
        """The child's name as the page's reader may see it (row-level security decides)."""
        if child_id is None:
            return ""
        if child_id not in self._children:
            self._children[child_id] = child_queries.get_child(self.conn, child_id)
        found = self._children[child_id]
        if found is None:
            return f"#{child_id}"
        return " ".join(part for part in (found.last_name, found.first_name, found.patronymic) if part)
