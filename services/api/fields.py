"""Field types shared by API contracts: ids that fit PostgreSQL's bigint, versions that fit its
integer, and text it can store. Out-of-range or unstorable values become a 422 naming the field
instead of an error from the database."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_ID = 2**63 - 1

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
# PostgreSQL text cannot hold the NUL character.
Text = Annotated[str, Field(pattern=r"^[^\x00]*$")]
