"""Audit events for the synthetic data set: what its people did, in time order, chained and hashed
exactly as the chaining trigger in ``migrations/versions/0002_audit.py`` would have.

The trigger is off for the bulk load (``session_replication_role = replica``), so this module does
its work: event ids rise with time, event ``i`` goes to chain ``i mod chains`` with the next
``seq``, ``prev_hash`` is that chain's previous hash, and ``hash = sha256(prev_hash ||
canonical)`` with the canonical bytes of ``audit/canonical.py`` (checked against
``canonical_bytes`` for the first events of every run). At the end each chain's head row is moved
to its last event where heads are a table (where they are a view of the events, nothing is
needed), so ``flask audit verify`` finds every chain whole and the next real event links on.

What happens to a referral, as events (lag after filing): the filer signs in (-5 min) and files
it (0); the receiving agency's screener opens it and the child's record (30, 35 min); the
decision (accepted, screened out by a supervisor, redirected) at the priority's usual time or a
late one; the referrer's status update (by Qorgau itself); for accepted referrals the case is
opened or linked, a worker assigned, two assessments created, then over the following months
the participants read the case, add and read chronology, complete assessments, the regional
prosecutor reads it, and the case is closed. A small share are denied probes by staff of an
unrelated agency. Every actor is one the access rules let do that (DESIGN.md §4).

Events are placed by a merge with no sorting: referral ``j`` is filed at ``start + j * span / M``,
so a fixed-lag event of referral ``j`` falls at ``j + lag / step`` in referral units and the
fixed-lag streams interleave by their fractional offsets; events whose lag depends on the
referral (decisions, what follows them, closures) wait in a small heap.
"""
from __future__ import annotations

import hashlib
import heapq
import json
import multiprocessing
import random
import struct
from datetime import datetime, timezone

import psycopg

from audit.canonical import FORMAT_VERSION, GENESIS, canonical_bytes
from bench.copying import (BINARY_NULL, PG_EPOCH_US, US, Sink, Timestamps, b_bool, b_int8, b_jsonb,
                           b_text, b_text_array)

MINUTE = 60 * US
HOUR = 60 * MINUTE
DAY = 24 * HOUR
PRIORITIES = ("immediate", "urgent", "standard", "low")
DECISION = {0: "referral_accepted", 1: "referral_screened_out", 2: "referral_redirected"}
USER_AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0 Safari/537.36",
               "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
               "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148 Safari/604.1",
               "Mozilla/5.0 (Linux; Android 14) Chrome/129.0 Mobile Safari/537.36")
assert FORMAT_VERSION == 1


# The COPY column order: per-kind and per-actor columns side by side, so each is one ready-made
# piece of the binary row.
KIND_COLUMNS = ("action", "outcome", "object_type", "purpose")
ACTOR_COLUMNS = ("actor_kind", "actor_user_id", "actor_agency_id", "actor_region_id", "actor_roles",
                 "actor_mfa", "client_addr", "user_agent", "auth_strength", "channel")
COLUMNS = (("id", "chain", "seq", "occurred_at") + KIND_COLUMNS + ACTOR_COLUMNS
           + ("object_id", "child_id", "request_id", "session_ref", "details", "prev_hash", "hash"))
_HEAD = struct.Struct("!hiqihiqiq")  # field count; id, chain, seq, occurred_at with their lengths
_HASH_LEN = struct.pack("!i", 32)
_REQ_LEN = struct.pack("!i", 16)
_SESS_LEN = struct.pack("!i", 12)


class Actors:
    """Per-user values, and their canonical and binary COPY pieces, computed once: index 0 is
    Qorgau's own system actor."""

    def __init__(self, world):
        n = len(world.users) + 1
        role = [""] * n
        for uid, r in world.roles:
            role[uid] = r
        # (actor_kind, user, agency, region, roles, mfa, client_addr, user_agent, auth, channel)
        self.values = [("system", None, None, None, ["system"], False, None, None, "system", "task")]
        for uid, agency, *_ in world.users:
            mfa = role[uid] in ("supervisor", "oversight")
            self.values.append(("user", uid, agency, world.region_of_agency[agency], [role[uid]], mfa,
                                f"10.{agency >> 8 & 255}.{agency & 255}.{uid % 200 + 20}",
                                USER_AGENTS[uid % len(USER_AGENTS)],
                                "password+totp" if mfa else "password", "web"))
        self.canon_actor, self.canon_auth, self.canon_channel, self.canon_addr = [], [], [], []
        self.canon_tail, self.blob = [], []
        for kind, uid, agency, region, roles, mfa, addr, ua, auth, channel in self.values:
            j = _json_value
            self.canon_actor.append(
                f'"actor_agency_id":{j(agency)},"actor_kind":{j(kind)},"actor_mfa":{j(mfa)},'
                f'"actor_region_id":{j(region)},"actor_roles":[{",".join(map(j, roles))}],'
                f'"actor_user_id":{j(uid)},')
            self.canon_auth.append(f'"auth_strength":{j(auth)},"chain":')
            self.canon_channel.append(f',"channel":{j(channel)},"child_id":')
            self.canon_addr.append(f',"client_addr":{j(addr)},"details":')
            self.canon_tail.append(f',"user_agent":{j(ua)},"v":{FORMAT_VERSION}}}')
            self.blob.append(b"".join((b_text(kind), b_int8(uid), b_int8(agency), b_int8(region),
                                       b_text_array(roles), b_bool(mfa), b_text(addr), b_text(ua),
                                       b_text(auth), b_text(channel))))


def _json_value(value) -> str:
    """One value as the canonical JSON writes it (``_check`` holds this to audit.canonical)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.encoder.encode_basestring(value)


def _slots(plan, world, facts, rng_seed):
    """(name, lag or None, make) for every kind of event; ``make(j)`` returns the event of
    referral ``j`` or None where it does not apply. Lag None: the event's time is
    ``make``'s first element (decision-relative events, closures)."""
    f = facts
    sup = world.supervisors
    cw = world.caseworkers
    oversight = world.oversight
    region_of = world.region_of_agency

    def filed_at(j):
        return plan.filed_at(j)

    def sign_in(j):
        u = f.creator[j]
        return ("sign_in", u, "user", str(u), 0, None, "{}", "allowed")

    def filed(j):
        return ("referral_filed", f.creator[j], "referral", str(j + 1), f.child[j], None,
                f'{{"priority": "{PRIORITIES[f.decision_class[j] >> 1]}"}}', "allowed")

    def viewed(j):
        return ("referral_viewed", f.screener[j], "referral", str(j + 1), f.child[j], "screening", "{}", "allowed")

    def child_viewed(j):
        return ("child_viewed", f.screener[j], "child", str(f.child[j]), f.child[j], "screening", "{}", "allowed")

    def status_viewed(j):
        if f.state[j] > 2:
            return None
        return ("referral_status_viewed", f.creator[j], "referral", str(j + 1), f.child[j], None, "{}", "allowed")

    def case_event(action, who, purpose="casework", min_lag=0, object_type="case"):
        def make(j):
            case = f.case[j]
            if not case or f.state[j] != 0 or DECISION_LAGS[f.decision_class[j]] + HOUR > min_lag:
                return None
            k = case - 1
            user = who(j, k)
            obj = str(f.child[j]) if object_type == "child" else str(case)
            return (action, user, object_type, obj, f.child[j], purpose, f'{{"case_id": {case}}}', "allowed")
        return make

    def probe(j):
        # Someone from an unrelated agency of the region tries the case: denied, and recorded.
        case = f.case[j]
        if not case:
            return None
        ngos = world.ngos[region_of[f.lead[j]]]
        staff = cw[ngos[j % len(ngos)]]
        outsider = staff[(j // len(ngos)) % len(staff)]
        if outsider == f.creator[j]:
            return None
        return ("access_denied", outsider, "case", str(case), f.child[j], None, '{"reason": "not_participant"}', "denied")

    # Decision-relative events: (time, event), or None.
    def decision(j):
        s = f.state[j]
        if s > 2:
            return None
        return (filed_at(j) + DECISION_LAGS[f.decision_class[j]],
                (DECISION[s], f.decider[j], "referral", str(j + 1), f.child[j], "screening",
                 f'{{"priority": "{PRIORITIES[f.decision_class[j] >> 1]}"}}', "allowed"))

    def referrer_update(j):
        s = f.state[j]
        if s > 2:
            return None
        status = "accepted" if s == 0 else "no_further_action"
        return (filed_at(j) + DECISION_LAGS[f.decision_class[j]] + MINUTE,
                ("referrer_update_sent", 0, "referral", str(j + 1), f.child[j], None,
                 f'{{"status": "{status}"}}', "allowed"))

    def after_decision(action, delay, who, need_new=False, details=None):
        def make(j):
            case = f.case[j]
            if not case or f.state[j] != 0 or (need_new and not f.new_case[j]):
                return None
            k = case - 1
            d = details or f'{{"case_id": {case}}}'
            if action == "case_opened" and not f.new_case[j]:
                return (filed_at(j) + DECISION_LAGS[f.decision_class[j]] + delay,
                        ("case_linked", f.screener[j], "case", str(case), f.child[j], None,
                         f'{{"referral_id": {j + 1}}}', "allowed"))
            return (filed_at(j) + DECISION_LAGS[f.decision_class[j]] + delay,
                    (action, who(j, k), "case", str(case), f.child[j], None, d, "allowed"))
        return make

    def closure(j):
        case = f.case[j]
        if not case or not f.new_case[j]:
            return None
        closed = f.case_closed[case - 1]
        if not closed:
            return None
        lead = f.case_lead[case - 1]
        return (closed, ("case_closed", sup[lead][0], "case", str(case), f.child[j], None, "{}", "allowed"))

    worker = lambda j, k: f.case_worker[k]  # noqa: E731
    psych = lambda j, k: f.case_psych_worker[k]  # noqa: E731
    boss = lambda j, k: sup[f.case_lead[k]][k % len(sup[f.case_lead[k]])]  # noqa: E731
    prosecutor = lambda j, k: oversight[region_of[f.case_lead[k]]][k % len(oversight[region_of[f.case_lead[k]]])]  # noqa: E731

    # In the order their share is filled when --audit-events is smaller than all of them.
    return [
        ("filed", 0, filed),
        ("viewed", 30 * MINUTE, viewed),
        ("decision", None, decision),
        ("case_opened", None, after_decision("case_opened", 5 * MINUTE, worker)),
        ("child_viewed", 35 * MINUTE, child_viewed),
        ("referrer_update", None, referrer_update),
        ("worker_assigned", None, after_decision("worker_assigned", 20 * MINUTE, boss, need_new=True)),
        ("assessment_psych", None, after_decision("assessment_created", 30 * MINUTE, boss, need_new=True,
                                                  details='{"kind": "psychological"}')),
        ("assessment_legal", None, after_decision("assessment_created", 31 * MINUTE, boss, need_new=True,
                                                  details='{"kind": "legal"}')),
        ("case_viewed_3d", 3 * DAY, case_event("case_viewed", worker, min_lag=3 * DAY)),
        ("chronology_added_4d", 4 * DAY, case_event("chronology_entry_added", worker, min_lag=4 * DAY)),
        ("closure", None, closure),
        ("sign_in", -5 * MINUTE, sign_in),
        ("status_viewed", 2 * DAY + 3 * HOUR, status_viewed),
        ("case_viewed_sup_7d", 7 * DAY, case_event("case_viewed", boss, "supervision", min_lag=7 * DAY)),
        ("case_viewed_psych_10d", 10 * DAY, case_event("case_viewed", psych, min_lag=10 * DAY)),
        ("assessment_done_12d", 12 * DAY + 2 * HOUR, case_event("assessment_completed", psych, min_lag=12 * DAY)),
        ("chronology_viewed_prosecutor_14d", 14 * DAY, case_event("chronology_viewed", prosecutor, "oversight",
                                                                   min_lag=14 * DAY)),
        ("case_viewed_30d", 30 * DAY, case_event("case_viewed", worker, min_lag=30 * DAY)),
        ("probe_5d", 5 * DAY + 7 * HOUR, probe),
        ("child_viewed_45d", 45 * DAY, case_event("child_viewed", worker, min_lag=45 * DAY, object_type="child")),
        ("case_viewed_60d", 60 * DAY, case_event("case_viewed", worker, min_lag=60 * DAY)),
        ("case_viewed_sup_90d", 90 * DAY, case_event("case_viewed", boss, "supervision", min_lag=90 * DAY)),
        ("case_viewed_120d", 120 * DAY, case_event("case_viewed", worker, min_lag=120 * DAY)),
        ("chronology_viewed_150d", 150 * DAY, case_event("chronology_viewed", worker, min_lag=150 * DAY)),
    ]


DECISION_LAGS: tuple[int, ...] = ()


def _rates(slots, plan, m, sample_size=50_000, target=None):
    """Each slot's share of its candidates so the total is about ``target``, filled in list order."""
    rng = random.Random(plan.seed * 31 + 7)
    sample = range(m) if m <= sample_size else [rng.randrange(m) for _ in range(sample_size)]
    scale = m / max(1, len(sample))
    end = plan.end_us
    remaining = target
    rates = []
    for name, lag, make in slots:
        hits = 0
        for j in sample:
            ev = make(j)
            if ev is None:
                continue
            when = plan.filed_at(j) + lag if lag is not None else ev[0]
            if when <= end:
                hits += 1
        expected = hits * scale
        rate = 0.0 if expected <= 0 or remaining <= 0 else min(1.0, remaining / expected)
        remaining -= expected * rate
        rates.append(rate)
    return rates


PARTS = 1  # writer processes; each walks the whole stream, which costs more than it saves on 2 cores


def write_events(url: str, plan, world, facts, progress, parts: int = PARTS, on_start=None) -> int:
    """Write ``plan.audit_events`` chained events; return how many were written.

    ``on_start`` is called once the writer processes have started (work to do beside them
    belongs there, not before: they are forked from this process).

    ``parts`` processes walk the same event stream; each formats, hashes and COPYs the events
    of its own chains (``chain mod parts``), so every event is written once and the result does
    not depend on ``parts``.
    """
    global DECISION_LAGS, _JOB
    from bench.generate import DECISION_LAG
    DECISION_LAGS = tuple(lag * (4 if late else 1) for lag in DECISION_LAG for late in (0, 1))
    m = plan.referrals
    with psycopg.connect(url) as conn:
        chains = conn.execute("SELECT count(*) FROM audit.chain_heads").fetchone()[0]  # before any event
    slots = _slots(plan, world, facts, plan.seed)
    # Aim a little under the total; the rest are queue listings in the last hours (below).
    rates = _rates(slots, plan, m, target=int(plan.audit_events * 0.99)) if m else [0.0] * len(slots)
    progress.stage("audit events", plan.audit_events)
    ctx = multiprocessing.get_context("fork")
    done = ctx.Value("q", 0)
    _JOB = (url, plan, world, slots, rates, chains, parts, done)
    heads: dict[int, tuple] = {}
    written = 0
    with ctx.Pool(parts) as pool:
        pending = pool.map_async(_write_part, range(parts))
        if on_start is not None:
            on_start()
        reported = 0
        while not pending.ready():
            pending.wait(0.5)
            now = done.value
            progress.advance(now - reported)
            reported = now
        for part_heads, rows in pending.get():
            heads.update(part_heads)
            written += rows
    progress.advance(plan.audit_events - reported)
    progress.done()
    with psycopg.connect(url, autocommit=True) as conn:
        kind = conn.execute("SELECT relkind FROM pg_class WHERE oid = 'audit.chain_heads'::regclass").fetchone()[0]
        if kind == "r":  # a heads table the trigger keeps; a view of the events needs nothing
            for chain, (seq, digest, event_id, at_us) in heads.items():
                if seq:
                    at = datetime.fromtimestamp(at_us // US, timezone.utc).replace(microsecond=at_us % US)
                    conn.execute("UPDATE audit.chain_heads SET seq = %s, hash = %s, event_id = %s,"
                                 " occurred_at = %s WHERE chain = %s", (seq, digest, event_id, at, chain))
    return written


_JOB: tuple = ()


def _write_part(part: int):
    """One writer process: walk the whole stream, write the events of chains ``part mod parts``."""
    url, plan, world, slots, rates, chains, parts, done = _JOB
    writer = _Writer(url, chains, Actors(world), part, parts, done, plan.audit_events)
    _walk(plan, world, slots, rates, writer)
    return writer.close()


def _walk(plan, world, slots, rates, writer) -> None:
    """Hand every event to ``writer.emit`` in time order."""
    m = plan.referrals
    total = plan.audit_events
    end = plan.end_us
    step = plan.span_us / max(1, m)
    fixed = [(k, lag, make) for k, (name, lag, make) in enumerate(slots) if lag is not None and rates[k] > 0]
    variable = [(k, make) for k, (name, lag, make) in enumerate(slots) if lag is None and rates[k] > 0]
    # Fixed lags as (whole referral units, fraction): the stream of base b holds, in fraction
    # order, slot k's event of referral b - whole_k.
    placed = [((lag / step) // 1, (lag / step) % 1, k, lag, make) for k, lag, make in fixed]
    order = [(int(p[0]), p[2], p[3], p[4]) for p in sorted(placed, key=lambda p: (p[1], p[2]))]
    lo = min((p[0] for p in order), default=0)
    hi = max((p[0] for p in order), default=0)
    counters = [0] * len(slots)
    heap: list = []
    push, pop = heapq.heappush, heapq.heappop
    serial = 0
    span, start = plan.span_us, plan.start_us
    emit = writer.emit
    for b in range(lo, m + hi + 1):
        if writer.count >= total:
            break
        if 0 <= b < m:
            for k, make in variable:
                ev = make(b)
                if ev is None or ev[0] > end:
                    continue
                c = counters[k]
                counters[k] = c + 1
                r = rates[k]
                if int((c + 1) * r) > int(c * r):
                    serial += 1
                    push(heap, (ev[0], serial, ev[1]))
        for whole, k, lag, make in order:
            j = b - whole
            if j < 0 or j >= m:
                continue
            when = start + (j * span + lag * m) // m
            if when > end:
                continue
            ev = make(j)
            if ev is None:
                continue
            c = counters[k]
            counters[k] = c + 1
            r = rates[k]
            if int((c + 1) * r) <= int(c * r):
                continue
            while heap and heap[0][0] <= when:
                t, _, e = pop(heap)
                emit(t, e)
            emit(when, ev)
    while heap and writer.count < total:
        t, _, e = pop(heap)
        emit(t, e)
    # Top up with queue listings by caseworkers in the hours before as_of (no child named).
    missing = total - writer.count
    if missing > 0:
        users = [u for agency in world.caseworkers for u in agency] or [0]
        t0 = max(writer.last_time, end - 6 * HOUR)
        gap = max(0, end - t0) // missing
        for n in range(missing):
            u = users[n % len(users)]
            emit(t0 + n * gap, ("referral_listed", u, "referral_queue", None, 0, "casework", "{}", "allowed"))


class _Writer:
    """Numbers and chains every event handed to it in time order; hashes and COPYs its own.

    Each event's canonical text is rendered once, for its hash; the row goes to PostgreSQL in
    binary COPY form, built from pieces computed once per actor and per kind of event."""

    def __init__(self, url, chains, actors, part, parts, done, total):
        self.sink = Sink(url, "audit.events", COLUMNS, chunk=2000, binary=True) if url else None
        self.chains = chains
        self.part, self.parts = part, parts
        self.done = done
        self.total = total
        self.seq = [0] * chains
        self.prev = [GENESIS] * chains
        self.last_id = [0] * chains
        self.last_at = [0] * chains
        self.actors = actors
        self.kinds: dict[tuple, tuple] = {}
        self.ts = Timestamps()
        self.count = 0
        self.last_time = 0

    def _kind(self, key: tuple) -> tuple:
        """(binary columns, canonical text before the actor, canonical text after object_id)."""
        action, otype, purpose, outcome = key
        j = _json_value
        piece = (b"".join((b_text(action), b_text(outcome), b_text(otype), b_text(purpose))),
                 f'{{"action":{j(action)},',
                 f',"object_type":{j(otype)},"outcome":{j(outcome)},"purpose":{j(purpose)},'
                 '"request_id":"')
        self.kinds[key] = piece
        return piece

    def emit(self, when: int, ev) -> None:
        if self.count >= self.total:
            return
        i = self.count + 1
        self.count = i
        self.last_time = when
        if self.part == 0 and i % 100_000 == 0:
            with self.done.get_lock():
                self.done.value = i
        chain = (i - 1) % self.chains
        if chain % self.parts != self.part:
            return
        action, u, otype, oid, child, purpose, details, outcome = ev
        key = (action, otype, purpose, outcome)
        kind_blob, head, mid = self.kinds.get(key) or self._kind(key)
        seq = self.seq[chain] + 1
        a = self.actors
        req = f"{(i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF:016x}"
        if u:
            sess = f"{((u * 1000003) ^ (when // DAY)) * 0x9E3779B1 & 0xFFFFFFFFFFFF:012x}"
            sess_canon, sess_blob = f'"{sess}"', _SESS_LEN + sess.encode()
        else:
            sess_canon, sess_blob = "null", BINARY_NULL
        oid_canon = "null" if oid is None else f'"{oid}"'
        canon = (f'{head}{a.canon_actor[u]}"at":"{self.ts.canonical(when)}",{a.canon_auth[u]}{chain}'
                 f'{a.canon_channel[u]}{child or "null"}{a.canon_addr[u]}{details},"id":{i},'
                 f'"object_id":{oid_canon}{mid}{req}",'
                 f'"seq":{seq},"session_ref":{sess_canon}{a.canon_tail[u]}')
        prev = self.prev[chain]
        digest = hashlib.sha256(prev + canon.encode()).digest()
        if seq == 1:
            self._check(i, chain, seq, when, ev, req, sess_canon, canon)
        if self.sink is not None:
            self.sink.add(b"".join((
                _HEAD.pack(len(COLUMNS), 8, i, 2, chain, 8, seq, 8, when - PG_EPOCH_US), kind_blob,
                a.blob[u], b_text(oid), b_int8(child or None), _REQ_LEN, req.encode(), sess_blob,
                b_jsonb(details), _HASH_LEN, prev, _HASH_LEN, digest)))
        self.seq[chain] = seq
        self.prev[chain] = digest
        self.last_id[chain] = i
        self.last_at[chain] = when

    def _check(self, i, chain, seq, when, ev, req, sess_canon, canon) -> None:
        """The fast canonical text must be the audit module's own bytes."""
        action, u, otype, oid, child, purpose, details, outcome = ev
        kind, uid, agency, region, roles, mfa, addr, ua, auth, channel = self.actors.values[u]
        row = {
            "id": i, "chain": chain, "seq": seq, "action": action, "outcome": outcome,
            "occurred_at": datetime.fromtimestamp(when // US, timezone.utc).replace(microsecond=when % US),
            "actor_kind": kind, "actor_user_id": uid, "actor_agency_id": agency,
            "actor_region_id": region, "actor_roles": roles, "actor_mfa": mfa,
            "object_type": otype, "object_id": oid, "child_id": child or None, "purpose": purpose,
            "request_id": req, "client_addr": addr, "user_agent": ua,
            "session_ref": json.loads(sess_canon), "auth_strength": auth, "channel": channel,
            "details": json.loads(details),
        }
        expected = canonical_bytes(row)
        if expected != canon.encode():
            raise AssertionError(f"canonical bytes differ for event {i}:\n{expected!r}\n{canon.encode()!r}")

    def close(self):
        """Finish the COPY; return this part's chain heads and its row count."""
        rows = self.sink.close() if self.sink is not None else 0
        heads = {c: (self.seq[c], self.prev[c], self.last_id[c], self.last_at[c])
                 for c in range(self.chains) if c % self.parts == self.part}
        return heads, rows
