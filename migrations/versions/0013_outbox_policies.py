"""Row-level security for the outbox and the e-mail deliveries, and an owner check on
``clocks_running``.

0003 protected ``outbox`` and ``deliveries`` by grants alone: any application actor could read
every outbox row, and mark one published, delivered or dead, or a delivery sent, and so silently
suppress a notification that a deadline has passed (DESIGN.md §6; issue 5 item 5: every signal
reaches the right professional on time). ``clocks_running`` (0009_clock_lifecycle) told anyone
the running kinds and owning agencies of any subject id. Now, as the application role:

- outbox: anyone's transaction enqueues (INSERT) a row only as it starts: pending, never
  published, delivered, dead or tried, created and due now, in that transaction. The transaction
  that wrote a row reads it back (``services.outbox.enqueue`` inserts with RETURNING); nobody else
  reads a row but Qorgau's own system actor (the relay, the delivery task, the sweep: role
  ``system``, actor kind ``system``, which no user can hold) and the system admin, who reads the
  dead letters and a dead letter they tried again until it is tried (its attempts back to 0 and
  its last error kept, a state no other row is in). Only the system actor marks a row published,
  delivered, failed or dead. A delivered row never changes, and a dead one changes only by the
  system admin's retry (attempts to 0, due now, nothing else), even for the system actor; a row
  is never both delivered and dead; but for that retry, its counts of attempts and publications
  never go down. Its topic, payload, creation and transaction never change. Nobody deletes one
  (no grant, no policy).
- deliveries: read and written by the system actor only; a delivery starts pending and its
  outbox row, channel and recipient never change.
- clocks_running answers only an actor who has a part in the subject (``clocks_may_touch`` of
  0011_clock_write_policies: the case's agencies for a case), or the system actor. Its one
  caller is a case moving to planning or monitoring, by its lead, before it starts the first
  review clock.

Rules comparing a row with what it was are triggers for the application role, as in
0009_write_policies and 0011_clock_write_policies. The relay's lease is the row's
``next_attempt_at``, so it is covered by the outbox's rules; there is no other table.

``outbox.created_xact`` (the writing transaction, ``pg_current_xact_id()``) is new: a row is
visible to its writer by that id rather than by ``created_at = now()``, which another
transaction started in the same microsecond would share. Rows written before this revision have
none, and are visible to the system actor and the system admin as above.

Revision ID: 0013_outbox_policies
Revises: 0012_statistics
"""
import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0013_outbox_policies"
down_revision = "0012_statistics"
branch_labels = None
depends_on = None

REFUSE = "USING ERRCODE = 'insufficient_privilege'"
SYSTEM = "qorgau_is_system()"
ADMIN = "qorgau_has_role('system_admin')"
# A dead letter the system admin tried again, not yet tried by the delivery task: attempts reset
# by the retry, the last error kept (a delivery clears it, a failure counts an attempt).
REQUEUED = "(attempts = 0 AND delivered_at IS NULL AND dead_at IS NULL AND last_error IS NOT NULL)"

COLUMN = """
ALTER TABLE outbox ADD COLUMN created_xact xid8;
ALTER TABLE outbox ALTER COLUMN created_xact SET DEFAULT pg_current_xact_id();
"""

# Qorgau's own actor (services.db.set_actor of audit.Actor.system()): the role and the kind
# together, neither of which a person or an agency system is ever given.
FUNCTIONS = f"""
CREATE FUNCTION qorgau_is_system() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT qorgau_has_role('system')
            AND coalesce(current_setting('qorgau.actor_kind', true), '') = 'system' $$;

CREATE FUNCTION outbox_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'qorgau_app' OR NEW IS NOT DISTINCT FROM OLD THEN
    RETURN NEW;  -- the owner's maintenance, the tests' tampering; a lock taken by a no-op update
  END IF;
  IF OLD.delivered_at IS NOT NULL THEN
    RAISE EXCEPTION 'a delivered notification does not change' {REFUSE};
  END IF;
  IF OLD.dead_at IS NOT NULL THEN
    IF {ADMIN} AND NOT {SYSTEM}
       AND NEW.dead_at IS NULL AND NEW.delivered_at IS NULL AND NEW.attempts = 0
       AND NEW.next_attempt_at = now()
       AND (NEW.published_at, NEW.publish_count, NEW.last_error)
           IS NOT DISTINCT FROM (OLD.published_at, OLD.publish_count, OLD.last_error) THEN
      RETURN NEW;
    END IF;
    RAISE EXCEPTION 'a dead letter changes only when the system admin tries it again' {REFUSE};
  END IF;
  IF NOT {SYSTEM} THEN
    RAISE EXCEPTION 'only Qorgau publishes, delivers and dead-letters a notification' {REFUSE};
  END IF;
  IF NEW.delivered_at IS NOT NULL AND NEW.dead_at IS NOT NULL THEN
    RAISE EXCEPTION 'a notification is delivered or dead, not both' {REFUSE};
  END IF;
  IF NEW.attempts < OLD.attempts OR NEW.publish_count < OLD.publish_count THEN
    RAISE EXCEPTION 'attempts and publications are counted, never taken back' {REFUSE};
  END IF;
  RETURN NEW;
END $$;
"""

NEW_FUNCTIONS = ["qorgau_is_system()", "outbox_guard()"]

POLICIES = f"""
ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_read ON outbox FOR SELECT USING (
  {SYSTEM}
  OR created_xact = pg_current_xact_id_if_assigned()
  OR ({ADMIN} AND (dead_at IS NOT NULL OR {REQUEUED})));
CREATE POLICY outbox_enqueue ON outbox FOR INSERT WITH CHECK (
  created_xact = pg_current_xact_id() AND created_at = now() AND next_attempt_at = now()
  AND published_at IS NULL AND publish_count = 0 AND delivered_at IS NULL
  AND attempts = 0 AND dead_at IS NULL AND last_error IS NULL);
CREATE POLICY outbox_relay ON outbox FOR UPDATE
  USING ({SYSTEM} OR ({ADMIN} AND dead_at IS NOT NULL))
  WITH CHECK ({SYSTEM} OR ({ADMIN} AND {REQUEUED} AND next_attempt_at = now()));

ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY deliveries_read ON deliveries FOR SELECT USING ({SYSTEM});
CREATE POLICY deliveries_claim ON deliveries FOR INSERT WITH CHECK (
  {SYSTEM} AND state = 'pending' AND attempts = 0 AND sent_at IS NULL AND message_id IS NULL
  AND last_error IS NULL);
CREATE POLICY deliveries_record ON deliveries FOR UPDATE USING ({SYSTEM}) WITH CHECK ({SYSTEM});
"""

TABLES = ["outbox", "deliveries"]

# What a row keeps for life, whoever acts as the application role (the system actor included).
KEEP_COLUMNS = {
    "outbox": ("id", "topic", "payload", "created_at", "created_xact"),
    "deliveries": ("id", "outbox_id", "channel", "recipient_user_id", "created_at"),
}

TRIGGERS = "CREATE TRIGGER outbox_guard BEFORE UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_guard();\n" + \
    "\n".join(f"CREATE TRIGGER {table}_keep_columns BEFORE UPDATE ON {table} FOR EACH ROW"
              f" EXECUTE FUNCTION qorgau_keep_columns({', '.join(repr(c) for c in cols)});"
              for table, cols in KEEP_COLUMNS.items())

RUNNING = f"""
CREATE OR REPLACE FUNCTION clocks_running(p_subject_type text, p_subject_id bigint)
RETURNS TABLE (kind text, agency_id bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_catalog AS $$
BEGIN
  IF NOT clocks_may_touch(p_subject_type, p_subject_id) THEN
    RAISE EXCEPTION 'the action asking which clocks run has no part in their subject' {REFUSE};
  END IF;
  RETURN QUERY
    SELECT k.kind, k.agency_id FROM clocks k
     WHERE k.subject_type = p_subject_type AND k.subject_id = p_subject_id AND k.stopped_at IS NULL
     ORDER BY k.id;
END
$$;
"""


def _running_before() -> str:
    """clocks_running as 0009_clock_lifecycle wrote it."""
    path = Path(__file__).with_name("0009_clock_lifecycle.py")
    spec = importlib.util.spec_from_file_location("clock_lifecycle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = re.search(r"(CREATE FUNCTION clocks_running\(.*?\n\$\$;)", module.CLOCKS, re.S).group(1)
    return source.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade_statements() -> list[str]:
    return [COLUMN, FUNCTIONS, POLICIES, TRIGGERS, RUNNING]


def upgrade() -> None:
    for statement in upgrade_statements():
        op.execute(statement)


def downgrade_statements() -> list[str]:
    """The SQL that undoes this revision, in order (tests/access/test_rls_outbox.py runs it in a
    transaction it rolls back, to show that the scenarios it checks fail without it)."""
    out = [_running_before()]
    out += [f"DROP TRIGGER {table}_keep_columns ON {table}" for table in KEEP_COLUMNS]
    out.append("DROP TRIGGER outbox_guard ON outbox")
    for table in TABLES:
        out += [f"DROP POLICY {policy} ON {table}"
                for policy in re.findall(rf"CREATE POLICY (\w+) ON {table} ", POLICIES)]
        out += [f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
                f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY"]
    out += [f"DROP FUNCTION {fn}" for fn in reversed(NEW_FUNCTIONS)]
    out.append("ALTER TABLE outbox DROP COLUMN created_xact")
    return out


def downgrade() -> None:
    for statement in downgrade_statements():
        op.execute(statement)
