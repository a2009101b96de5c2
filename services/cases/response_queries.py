"""SQL for answers to oversight's instructions (``instruction_responses``, migration
0009_clock_lifecycle): one answer per instruction, read and written under row-level security."""
from __future__ import annotations


def insert_response(conn, *, instruction_entry_id: int, response_entry_id: int, case_id: int,
                    agency_id: int, responded_by: int) -> None:
    conn.execute(
        """INSERT INTO instruction_responses (instruction_entry_id, response_entry_id, case_id,
                                              agency_id, responded_by)
           VALUES (%s, %s, %s, %s, %s)""",
        (instruction_entry_id, response_entry_id, case_id, agency_id, responded_by))


def response_entry_id(conn, instruction_entry_id: int) -> int | None:
    """The id of the entry answering the instruction, if it has been answered."""
    row = conn.execute("SELECT response_entry_id FROM instruction_responses"
                       " WHERE instruction_entry_id = %s", (instruction_entry_id,)).fetchone()
    return row["response_entry_id"] if row else None
