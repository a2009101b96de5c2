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
from audit.trail import CHAIN_LOCK

revision = "0002_audit"
down_revision = "0001_platform"
branch_labels = None
depends_on = None

# How many independent chains writers spread over: 32 transactions can record at the same time
# without waiting for one another. The number is in audit.log_info; it may grow, never shrink.
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

CREATE INDEX events_child_idx ON audit.events (child_id, occurred_at) WHERE child_id IS NOT NULL;
CREATE INDEX events_actor_idx ON audit.events (actor_user_id, occurred_at)
    WHERE actor_user_id IS NOT NULL;
CREATE INDEX events_denied_idx ON audit.events (occurred_at) WHERE outcome = 'denied';

-- A safety net: an event whose month has no partition yet still lands somewhere.
CREATE TABLE audit.events_default PARTITION OF audit.events DEFAULT;
-- (chain, seq) cannot be unique across partitions (the key would have to include the month),
-- so each partition has its own unique index: it finds a chain's last event, and it refuses a
-- second event in the same place even if a writer got the locking wrong.
CREATE UNIQUE INDEX events_default_chain_seq ON audit.events_default (chain, seq);

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

-- The log's identity (a checkpoint names it, so one exported from another database is refused)
-- and its number of chains.
CREATE TABLE audit.log_info (
    log_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    chains      smallint NOT NULL CHECK (chains > 0),
    singleton   boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
"""

SEED = f"INSERT INTO audit.log_info (chains) VALUES ({CHAINS})"

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
CREATE TRIGGER log_info_append_only BEFORE UPDATE OR DELETE ON audit.log_info
    FOR EACH ROW EXECUTE FUNCTION audit.refuse_change();
CREATE TRIGGER log_info_no_truncate BEFORE TRUNCATE ON audit.log_info
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
"""

# Chaining, done by the database so that no writer can choose an event's place or hash: a
# BEFORE INSERT trigger (running as the owner) takes a chain, links the event to the chain's last
# event, numbers it and computes its hash from the row itself.
#
# Choosing a chain. Issue 3 item 4: one global chain makes every writer queue on one lock held
# until its transaction commits, which halves throughput at 8 clients. Instead a writer takes a
# chain nobody holds: first the one its backend pid points at, so connections spread out and
# usually keep "their" chain, then any free one. Only when every chain is held does it wait, on
# one fixed chain. The price: events are totally ordered only within a chain, so the order
# across chains is the checkpoints' (audit/checkpoints.py), and one chain alone tells only part
# of the story.
#
# The lock is a transaction-scoped advisory lock per chain rather than a "heads" row locked FOR
# UPDATE and rewritten by every transaction: such a hot row grows a new version per event, which
# every later writer has to step over until vacuum catches up (and cannot while any long read,
# such as a verification, holds its snapshot), and its lock and update add WAL to every commit.
# Instead, holding the chain's lock, the trigger reads the chain's last committed event from the
# per-partition (chain, seq) index. That read needs a fresh snapshot after the lock is taken,
# which only READ COMMITTED gives, so other isolation levels are refused rather than risk a fork.
#
# Within a transaction the chain's head (chain/seq/hash) is kept in a transaction-local setting,
# so later events of the same transaction reuse the chain without reading anything, and a
# transaction never holds two chains (so writers never deadlock). A rolled-back savepoint takes
# its events, the lock if it took it, and the setting with it, so the three always agree.
CHAIN = f"""
CREATE FUNCTION audit.chain_event() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  held text := coalesce(current_setting('qorgau.audit_head', true), '');
  chains integer;
  pick integer;
  tail record;
BEGIN
  -- The time is the row's own (it chose the partition); it may not be back-dated.
  IF NEW.occurred_at < now() OR NEW.occurred_at > clock_timestamp() THEN
    RAISE EXCEPTION 'audit events are stamped by the database, not by the caller'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF held <> '' THEN
    NEW.chain := split_part(held, '/', 1)::smallint;
    NEW.seq := split_part(held, '/', 2)::bigint + 1;
    NEW.prev_hash := decode(split_part(held, '/', 3), 'hex');
  ELSE
    IF current_setting('transaction_isolation') <> 'read committed' THEN
      RAISE EXCEPTION 'audit events can only be recorded in READ COMMITTED transactions'
        USING ERRCODE = 'invalid_transaction_state';
    END IF;
    SELECT l.chains INTO chains FROM audit.log_info l;
    FOR i IN 0..chains - 1 LOOP
      pick := (pg_backend_pid() + i) % chains;
      EXIT WHEN pg_try_advisory_xact_lock({CHAIN_LOCK}, pick);
      pick := NULL;
    END LOOP;
    IF pick IS NULL THEN
      pick := pg_backend_pid() % chains;
      PERFORM pg_advisory_xact_lock({CHAIN_LOCK}, pick);
    END IF;
    SELECT e.seq, e.hash INTO tail
      FROM audit.events e WHERE e.chain = pick ORDER BY e.seq DESC LIMIT 1;
    NEW.chain := pick;
    NEW.seq := coalesce(tail.seq, 0) + 1;
    NEW.prev_hash := coalesce(tail.hash, '\\x{GENESIS_HEX}'::bytea);
  END IF;
  NEW.id := nextval('audit.events_id_seq');
  NEW.hash := sha256(NEW.prev_hash || {canonical_sql("NEW.")});
  PERFORM set_config('qorgau.audit_head',
                     NEW.chain || '/' || NEW.seq || '/' || encode(NEW.hash, 'hex'), true);
  RETURN NEW;
END
$$;

CREATE TRIGGER events_chain BEFORE INSERT ON audit.events
    FOR EACH ROW EXECUTE FUNCTION audit.chain_event();

-- The heads every checkpoint signs: each chain's last committed event (seq 0 and the genesis
-- hash for a chain not used yet).
CREATE FUNCTION audit.heads()
  RETURNS TABLE (chain smallint, seq bigint, hash bytea, event_id bigint, occurred_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $$
  SELECT c::smallint, coalesce(e.seq, 0), coalesce(e.hash, '\\x{GENESIS_HEX}'::bytea), e.id,
         e.occurred_at
    FROM audit.log_info l, generate_series(0, l.chains - 1) AS c
    LEFT JOIN LATERAL (SELECT x.seq, x.hash, x.id, x.occurred_at FROM audit.events x
                        WHERE x.chain = c ORDER BY x.seq DESC LIMIT 1) e ON true
   ORDER BY 1
$$;

-- The same as a view, for tools that read heads as a table. The heads follow from the events,
-- so a bulk loader's UPDATE of a head is accepted only when it states the head as it already is.
CREATE VIEW audit.chain_heads AS SELECT * FROM audit.heads();

CREATE FUNCTION audit.confirm_head() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
  IF (NEW.chain, NEW.seq, NEW.hash) IS DISTINCT FROM (OLD.chain, OLD.seq, OLD.hash) THEN
    RAISE EXCEPTION 'audit chain % ends at seq %; heads follow the events and cannot be set',
      OLD.chain, OLD.seq USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER chain_heads_confirm INSTEAD OF UPDATE ON audit.chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit.confirm_head();
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
      EXECUTE format('CREATE UNIQUE INDEX %I ON audit.%I (chain, seq)', name || '_chain_seq', name);
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

OWNED_TABLES = ["audit.events", "audit.events_default", "audit.checkpoints", "audit.log_info",
                "audit.chain_heads"]
OWNED_ROUTINES = ["audit.refuse_change()", "audit.chain_event()", "audit.heads()",
                  "audit.confirm_head()",
                  "audit.ensure_partitions(integer)", "audit.may_read(bigint, bigint)"]

GRANTS = """
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA audit FROM PUBLIC;
GRANT USAGE ON SCHEMA audit TO qorgau_app, qorgau_auditor;
GRANT SELECT, INSERT ON audit.events TO qorgau_app;
GRANT SELECT, INSERT ON audit.checkpoints TO qorgau_app;
GRANT SELECT ON audit.log_info, audit.chain_heads TO qorgau_app;
GRANT EXECUTE ON FUNCTION audit.ensure_partitions(integer), audit.may_read(bigint, bigint),
                          audit.heads() TO qorgau_app;
GRANT EXECUTE ON FUNCTION audit.may_read(bigint, bigint), audit.heads() TO qorgau_auditor;
GRANT SELECT ON audit.events, audit.checkpoints, audit.log_info, audit.chain_heads
    TO qorgau_auditor;
-- Oversight tooling names the people and agencies in a report, and nothing else about them.
GRANT USAGE ON SCHEMA public TO qorgau_auditor;
GRANT SELECT ON public.regions, public.districts, public.agencies TO qorgau_auditor;
GRANT SELECT (id, agency_id, username, full_name, disabled_at) ON public.users TO qorgau_auditor;
"""


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(TABLES)
    op.execute(SEED)
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
