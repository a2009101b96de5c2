"""Audit: the append-only, hash-chained event log, its chain heads and signed checkpoints.

Revision ID: 0002_audit
Revises: 0001_platform

DESIGN.md §5 and issue 3. Everything lives in schema ``audit``, owned by ``qorgau_audit_owner``,
a role that cannot log in. The application may INSERT and SELECT events, and nothing else: it
cannot update, delete or truncate them, and triggers refuse those even to the owner. A trigger
places each new event in a chain and computes its hash from the row itself (``audit/canonical.py``
holds the expression), so what is hashed is exactly what is stored.
"""
from alembic import op

from audit.canonical import CANONICAL_SQL, GENESIS_HEX, canonical_sql

revision = "0002_audit"
down_revision = "0001_platform"
branch_labels = None
depends_on = None

# How many independent chains writers spread over. Each chain has one heads row that a writer
# locks until its transaction ends; 32 rows let 32 transactions record at the same time without
# waiting. More chains can be added later by inserting heads rows; none can ever be removed.
CHAINS = 32

ROLES = """
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'qorgau_audit_owner') THEN
    CREATE ROLE qorgau_audit_owner NOLOGIN NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'qorgau_auditor') THEN
    CREATE ROLE qorgau_auditor NOLOGIN NOBYPASSRLS;
  END IF;
END
$$;
CREATE SCHEMA audit AUTHORIZATION qorgau_audit_owner;
"""

TABLES = """
-- One row per recorded action. Never case content: ids, codes and request metadata only.
CREATE TABLE audit.events (
    id              bigint NOT NULL,
    chain           smallint NOT NULL,
    seq             bigint NOT NULL CHECK (seq > 0),
    occurred_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    action          text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('allowed', 'denied')),
    actor_kind      text NOT NULL,
    actor_user_id   bigint,
    actor_agency_id bigint,
    actor_region_id bigint,
    actor_roles     text[] NOT NULL,
    actor_mfa       boolean NOT NULL,
    object_type     text NOT NULL,
    object_id       text,
    child_id        bigint,
    purpose         text,
    request_id      text,
    client_addr     text,
    user_agent      text,
    session_ref     text,
    auth_strength   text,
    channel         text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'
                                                    AND length(details::text) <= 2048),
    prev_hash       bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash            bytea NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE SEQUENCE audit.events_id_seq AS bigint;

CREATE INDEX events_chain_seq_idx ON audit.events (chain, seq);
CREATE INDEX events_child_idx ON audit.events (child_id, occurred_at) WHERE child_id IS NOT NULL;
CREATE INDEX events_actor_idx ON audit.events (actor_user_id, occurred_at)
    WHERE actor_user_id IS NOT NULL;
CREATE INDEX events_denied_idx ON audit.events (occurred_at) WHERE outcome = 'denied';

-- A safety net: an event whose month has no partition yet still lands somewhere.
CREATE TABLE audit.events_default PARTITION OF audit.events DEFAULT;

-- The last event of every chain. A writer locks one row for the rest of its transaction, so
-- the chain it extends cannot fork; the head moves forward when the writer commits.
CREATE TABLE audit.chain_heads (
    chain        smallint PRIMARY KEY CHECK (chain >= 0),
    seq          bigint NOT NULL DEFAULT 0,
    hash         bytea NOT NULL,
    event_id     bigint,
    occurred_at  timestamptz
);

-- A signed statement "the log had these events": RFC 9162 tree size and root over every event
-- hash, plus each chain's head. ``body`` is the exact text that was signed.
CREATE TABLE audit.checkpoints (
    id           bigint PRIMARY KEY CHECK (id > 0),
    created_at   timestamptz NOT NULL,
    tree_size    bigint NOT NULL CHECK (tree_size >= 0),
    root_hash    bytea NOT NULL CHECK (length(root_hash) = 32),
    chain_seqs   bigint[] NOT NULL,
    chain_heads  bytea[] NOT NULL,
    frontier     bytea[] NOT NULL,
    key_id       text NOT NULL,
    body         text NOT NULL,
    signature    bytea NOT NULL
);

-- The log's identity: a checkpoint names it, so one exported from another database is refused.
CREATE TABLE audit.log_info (
    log_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    singleton   boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
INSERT INTO audit.log_info DEFAULT VALUES;
"""

SEED_HEADS = f"""
INSERT INTO audit.chain_heads (chain, hash)
SELECT c, '\\x{GENESIS_HEX}'::bytea FROM generate_series(0, {CHAINS - 1}) AS c;
"""

# Refusals. Row triggers on the partitioned table are cloned onto every partition; TRUNCATE
# triggers are not, so ensure_partitions adds one to each partition it creates.
APPEND_ONLY = """
CREATE FUNCTION audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  RAISE EXCEPTION 'audit records are append-only: % on %.% refused',
    TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER events_default_no_truncate BEFORE TRUNCATE ON audit.events_default
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON audit.checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON audit.checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER heads_no_delete BEFORE DELETE ON audit.chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER heads_no_truncate BEFORE TRUNCATE ON audit.chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER log_info_append_only BEFORE UPDATE OR DELETE ON audit.log_info
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER log_info_no_truncate BEFORE TRUNCATE ON audit.log_info
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
"""

# Chaining, done by the database so that no writer can choose an event's place or hash: a
# BEFORE INSERT trigger (running as the owner) locks a chain head, numbers the event, links it
# to the head's hash and computes its own hash from the row.
#
# Choosing a chain. Issue 3 item 4: one global chain makes every writer queue on one row lock
# held until its transaction commits, which halves throughput at 8 clients. Instead a writer
# takes a heads row nobody holds (SKIP LOCKED): first the one its backend pid points at, so that
# connections spread out and usually keep "their" chain, then any free one. Only when every
# chain is held does a writer wait, on one fixed row. The price: events are totally ordered only
# within a chain, so the global order across chains is the checkpoints' (audit/checkpoints.py),
# and a reader of a single chain sees only part of the story. The row lock also makes
# REPEATABLE READ callers liable to a serialisation failure under contention, which they retry
# as usual.
#
# Within a transaction the held head (chain/seq/hash) lives in a transaction-local setting: a
# second event reuses the chain (one head per transaction, so writers never deadlock) without
# reading the table, and the heads row is written once, at commit, by a deferred trigger that
# acts only for the transaction's last event. Updating the row for every event would leave a
# chain of row versions that each later event of the same transaction walks again, which makes
# a bulk job recording thousands of events quadratic. A rolled-back savepoint takes its events,
# its lock and the setting with it, so the three always agree.
CHAIN = f"""
CREATE FUNCTION audit.chain_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  held text := coalesce(current_setting('qorgau.audit_head', true), '');
  head record;
BEGIN
  -- The time is the row's own (it chose the partition); it may not be back-dated.
  IF NEW.occurred_at < now() OR NEW.occurred_at > clock_timestamp() THEN
    RAISE EXCEPTION 'audit events are stamped by the database, not by the caller'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF held <> '' THEN
    SELECT split_part(held, '/', 1)::smallint AS chain, split_part(held, '/', 2)::bigint AS seq,
           decode(split_part(held, '/', 3), 'hex') AS hash INTO head;
  ELSE
    SELECT h.chain, h.seq, h.hash INTO head
      FROM audit.chain_heads h
     WHERE h.chain = pg_backend_pid() % (SELECT count(*) FROM audit.chain_heads)
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      SELECT h.chain, h.seq, h.hash INTO head
        FROM audit.chain_heads h
       ORDER BY hashint8(pg_backend_pid()::bigint * 1024 + h.chain)
       LIMIT 1
         FOR UPDATE SKIP LOCKED;
    END IF;
    IF NOT FOUND THEN
      SELECT h.chain, h.seq, h.hash INTO head
        FROM audit.chain_heads h
       WHERE h.chain = pg_backend_pid() % (SELECT count(*) FROM audit.chain_heads)
         FOR UPDATE;
    END IF;
  END IF;
  NEW.id := nextval('audit.events_id_seq');
  NEW.chain := head.chain;
  NEW.seq := head.seq + 1;
  NEW.prev_hash := head.hash;
  NEW.hash := sha256(NEW.prev_hash || {canonical_sql("NEW.")});
  PERFORM set_config('qorgau.audit_head',
                     NEW.chain || '/' || NEW.seq || '/' || encode(NEW.hash, 'hex'), true);
  RETURN NEW;
END
$$;

CREATE FUNCTION audit.store_head() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
  IF current_setting('qorgau.audit_head', true)
       = NEW.chain || '/' || NEW.seq || '/' || encode(NEW.hash, 'hex') THEN
    UPDATE audit.chain_heads
       SET seq = NEW.seq, hash = NEW.hash, event_id = NEW.id, occurred_at = NEW.occurred_at
     WHERE chain = NEW.chain AND seq < NEW.seq;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'audit chain % cannot move to %', NEW.chain, NEW.seq
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER events_chain BEFORE INSERT ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.chain_event();
CREATE CONSTRAINT TRIGGER events_store_head AFTER INSERT ON audit.events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit.store_head();
"""

# Monthly partitions, created ahead by the daily task ``audit.ensure_partitions``. A month whose
# events already fell into the default partition is skipped with a warning: moving them is a
# manual, reviewed operation.
PARTITIONS = """
CREATE FUNCTION audit.ensure_partitions(months_ahead integer DEFAULT 3) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  first_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  month date;
  name text;
  created integer := 0;
BEGIN
  FOR i IN 0..greatest(months_ahead, 0) LOOP
    month := (first_month + make_interval(months => i))::date;
    name := format('events_y%sm%s', to_char(month, 'YYYY'), to_char(month, 'MM'));
    CONTINUE WHEN to_regclass(format('audit.%I', name)) IS NOT NULL;
    BEGIN
      EXECUTE format(
        'CREATE TABLE audit.%I PARTITION OF audit.events FOR VALUES FROM (%L) TO (%L)',
        name, month::timestamp AT TIME ZONE 'UTC',
        (month + interval '1 month')::timestamp AT TIME ZONE 'UTC');
      EXECUTE format('CREATE TRIGGER no_truncate BEFORE TRUNCATE ON audit.%I '
                     'FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()', name);
      created := created + 1;
    EXCEPTION WHEN check_violation THEN
      RAISE WARNING 'audit.%: events of this month are in audit.events_default; not created', name;
    END;
  END LOOP;
  RETURN created;
END
$$;
"""

# Row-level security (DESIGN.md §4, "enforced twice"): through the application role an actor
# reads only the events their audit reports may show; Qorgau's own system actor (checkpoints)
# reads all. Writing is always allowed: a denied or failed action must still leave its trace.
POLICIES = """
CREATE FUNCTION audit.may_read(event_agency bigint, event_region bigint) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
  SELECT CASE
    WHEN 'system' = ANY (r) THEN true
    WHEN 'oversight' = ANY (r) AND event_region = (
      SELECT a.region_id FROM public.agencies a
       WHERE a.id = nullif(current_setting('qorgau.agency_id', true), '')::bigint) THEN true
    WHEN 'supervisor' = ANY (r)
      AND event_agency = nullif(current_setting('qorgau.agency_id', true), '')::bigint THEN true
    ELSE false
  END
  FROM string_to_array(coalesce(current_setting('qorgau.roles', true), ''), ',') AS r
$$;

ALTER TABLE audit.events ENABLE ROW LEVEL SECURITY;
CREATE POLICY events_append ON audit.events FOR INSERT TO qorgau_app WITH CHECK (true);
CREATE POLICY events_read ON audit.events FOR SELECT TO qorgau_app
    USING (audit.may_read(actor_agency_id, actor_region_id));
CREATE POLICY events_auditor ON audit.events FOR SELECT TO qorgau_auditor USING (true);
"""

OWNED_TABLES = ["audit.events", "audit.events_default", "audit.chain_heads", "audit.checkpoints",
                "audit.log_info"]
OWNED_ROUTINES = ["audit.refuse_change()", "audit.chain_event()", "audit.store_head()",
                  "audit.ensure_partitions(integer)", "audit.may_read(bigint, bigint)"]

GRANTS = """
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA audit FROM PUBLIC;
GRANT USAGE ON SCHEMA audit TO qorgau_app, qorgau_auditor;
GRANT SELECT, INSERT ON audit.events TO qorgau_app;
GRANT SELECT, INSERT ON audit.checkpoints TO qorgau_app;
GRANT SELECT ON audit.chain_heads, audit.log_info TO qorgau_app;
GRANT EXECUTE ON FUNCTION audit.ensure_partitions(integer), audit.may_read(bigint, bigint)
    TO qorgau_app;
GRANT EXECUTE ON FUNCTION audit.may_read(bigint, bigint) TO qorgau_auditor;
GRANT SELECT ON audit.events, audit.checkpoints, audit.chain_heads, audit.log_info
    TO qorgau_auditor;
-- Oversight tooling names the people and agencies in a report, and nothing else about them.
GRANT USAGE ON SCHEMA public TO qorgau_auditor;
GRANT SELECT ON public.regions, public.districts, public.agencies TO qorgau_auditor;
GRANT SELECT (id, agency_id, username, full_name, disabled_at) ON public.users TO qorgau_auditor;
"""


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(TABLES)
    op.execute(SEED_HEADS)
    op.execute(APPEND_ONLY)
    op.execute(CHAIN)
    op.execute(PARTITIONS)
    op.execute(POLICIES)
    for table in OWNED_TABLES:
        op.execute(f"ALTER TABLE {table} OWNER TO qorgau_audit_owner")
    op.execute("ALTER SEQUENCE audit.events_id_seq OWNER TO qorgau_audit_owner")
    for routine in OWNED_ROUTINES:
        op.execute(f"ALTER FUNCTION {routine} OWNER TO qorgau_audit_owner")
    op.execute(GRANTS)
    # The owner creates the monthly partitions (a SECURITY DEFINER function), so they are its own.
    op.execute("SELECT audit.ensure_partitions(3)")
    # The canonical expression is checked once here, so a typo fails the migration, not a request.
    op.execute(f"SELECT {CANONICAL_SQL} FROM audit.events LIMIT 0")


def downgrade() -> None:
    op.execute("DROP SCHEMA audit CASCADE")
