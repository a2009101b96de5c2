"""``flask bench generate``: a synthetic national data set, written with COPY.

What is generated, and the proportions it follows:

* the world (``bench/world.py``): 20 first-level units, districts, agencies of every kind and
  their staff; every user shares one precomputed argon2 hash of the bench password;
* children in families of one to three (shared surname and patronymic, same district), spread
  over districts by population and over the district's schools, aged 0-17, with valid IINs that
  encode their date of birth and sex (``services/children/iin.py``); 2% have none (newcomers);
* referrals filed evenly over the two years before ``as_of`` by schools, police, clinics, social
  services, psychologists and NGOs of the child's district, to social services (and the police or
  psychologists, by category); categories, priorities and outcomes in fixed proportions, with
  47.5% screened in (PRACTICE.md §5), decisions within the priority's window except for 10%
  late ones, referrals of the last hours still in screening;
* a case for every child of an accepted referral, or a link to the child's open case (one open
  case per child); lead agency, participants with assigned workers (8% of open cases wait in the
  agency's unassigned queue), a psychological and a legal assessment, chronology entries;
* audit events (``bench/audit_events.py``) for what those people did, chained and hashed exactly
  as the database's trigger would have.

Everything is a function of the seed and ``as_of``: the same arguments give the same rows.
"""
from __future__ import annotations

import bisect
import itertools
import random
import threading
import time
from array import array
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import psycopg

from bench import names, world as world_mod
from bench.copying import (NULL, US, Sink, Timestamps, drop_indexes, month_partitions, run_parallel,
                           secondary_indexes)
from services.children.iin import make_iin
from services.children.names import search_key

HOUR = 3600 * US
DAY = 24 * HOUR

PRIORITIES = ("immediate", "urgent", "standard", "low")
PRIORITY_WEIGHTS = (5, 20, 50, 25)
GRAVE_PRIORITY_WEIGHTS = (20, 45, 30, 5)  # sexual abuse, suicide risk
# The decision is due 1 hour, 1 working day, 1 working day, 3 working days after filing
# (DESIGN.md §3); these are typical times taken, and late ones take four times as long.
DECISION_LAG = (HOUR, 6 * HOUR, 20 * HOUR, 44 * HOUR)
LATE_SHARE = 0.10
CATEGORIES = ("neglect", "physical_abuse", "emotional_abuse", "domestic_violence_witnessed",
              "bullying", "sexual_abuse", "self_harm_suicide_risk", "online_exploitation", "other")
CATEGORY_WEIGHTS = (30, 17, 10, 14, 10, 6, 6, 3, 4)
GRAVE = {"sexual_abuse", "self_harm_suicide_risk"}
POLICE_CATEGORIES = {"physical_abuse", "sexual_abuse", "domestic_violence_witnessed", "online_exploitation"}
PSYCH_CATEGORIES = {"self_harm_suicide_risk", "emotional_abuse", "bullying"}
SOURCES = ("school", "police", "health", "social_services", "psychology", "ngo")
SOURCE_WEIGHTS = (30, 28, 12, 10, 8, 12)
# Outcomes of screening: PRACTICE.md §5, 47.5% screened in.
ACCEPTED, SCREENED_OUT, REDIRECTED, SCREENING, SUBMITTED = 0, 1, 2, 3, 4
STATE_NAMES = ("accepted", "screened_out", "redirected", "screening", "submitted")
OUTCOME_CUTS = (0.475, 0.925)
OBSERVATIONS = {
    "neglect": "Ребёнок приходит в школу голодным, в грязной одежде, пропускает занятия.",
    "physical_abuse": "На руках и спине ребёнка замечены синяки разной давности.",
    "emotional_abuse": "Ребёнок рассказывает, что дома его постоянно унижают и кричат.",
    "domestic_violence_witnessed": "Вызов на семейный конфликт, ребёнок присутствовал при побоях.",
    "bullying": "Одноклассники систематически травят ребёнка, в том числе в мессенджерах.",
    "sexual_abuse": "Ребёнок сообщил педагогу о действиях сексуального характера со стороны взрослого.",
    "self_harm_suicide_risk": "В тетради найдена записка о нежелании жить, порезы на предплечье.",
    "online_exploitation": "Незнакомый взрослый в сети требует у ребёнка фотографии.",
    "other": "Ребёнок долго остаётся без присмотра взрослых.",
}
PLACES = ("школа", "дом", "улица", "поликлиника", "двор", "онлайн")
# How long a case stays open, in days: 20% 30-90, 50% 90-240, 30% 240-540.
CASE_LENGTH = ((30, 90), (90, 240), (240, 540))
CHILD_AGE_WEIGHTS = (3, 3, 3, 4, 4, 5, 7, 7, 7, 7, 8, 8, 9, 9, 9, 8, 7, 6)  # by year of age

PARTICIPANT_KINDS = ("social_services", "police", "psychology")
PASSWORD = "bench-password-2026"
UNIT_US = {"minutes": 60 * US, "hours": HOUR, "working_hours": 8 * HOUR // 3,
           "working_days": int(1.4 * DAY), "months": int(30.4 * DAY)}


@dataclass(frozen=True)
class Plan:
    """What to generate: sizes, the seed, and the instant the data set ends at."""

    children: int
    referrals: int
    audit_events: int
    seed: int = 1
    as_of: datetime = field(default_factory=lambda: datetime.now(timezone.utc).replace(
        hour=0, minute=0, second=0, microsecond=0))
    years: float = 2.0

    def __post_init__(self):
        end = int(self.as_of.timestamp()) * US
        span = int(self.years * 365.25 * DAY)
        # Plain attributes: these are read for every row and event.
        object.__setattr__(self, "end_us", end)
        object.__setattr__(self, "span_us", span)
        object.__setattr__(self, "start_us", end - span)

    def filed_at(self, j: int) -> int:
        """When referral ``j`` (0-based) was filed: evenly over the span, in id order."""
        return self.start_us + j * self.span_us // max(1, self.referrals)


class Progress:
    """Told about each stage and its advance; the CLI shows a progress bar."""

    def stage(self, label: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def done(self) -> None:
        pass


@dataclass
class Facts:
    """What the audit events need to know about every referral and case (index = id - 1)."""

    child: array = field(default_factory=lambda: array("q"))
    ref_agency: array = field(default_factory=lambda: array("i"))
    creator: array = field(default_factory=lambda: array("i"))
    lead: array = field(default_factory=lambda: array("i"))
    screener: array = field(default_factory=lambda: array("i"))
    decider: array = field(default_factory=lambda: array("i"))
    state: array = field(default_factory=lambda: array("b"))
    decision_class: array = field(default_factory=lambda: array("b"))  # priority * 2 + late
    case: array = field(default_factory=lambda: array("q"))  # 0: none
    new_case: array = field(default_factory=lambda: array("b"))
    case_lead: array = field(default_factory=lambda: array("i"))
    case_worker: array = field(default_factory=lambda: array("i"))
    case_psych_agency: array = field(default_factory=lambda: array("i"))
    case_psych_worker: array = field(default_factory=lambda: array("i"))
    case_closed: array = field(default_factory=lambda: array("q"))  # 0: open


CORE_TABLES = ["regions", "districts", "agencies", "users", "user_roles", "children", "referrals",
               "referral_referrers", "referral_children", "referral_recipients", "referrer_updates",
               "cases", "case_referrals", "case_participants", "assessments", "chronology_entries",
               "chronology_bodies", "clocks", "escalations"]


# Audit columns the planner needs statistics for (filters, joins, ordering); the hashes, texts
# and details of 50 M events would only make ANALYZE slower.
AUDIT_STATS_COLUMNS = ("id", "chain", "seq", "occurred_at", "action", "outcome", "actor_kind",
                       "actor_user_id", "actor_agency_id", "actor_region_id", "object_type",
                       "object_id", "child_id", "purpose")


def generate(url: str, plan: Plan, progress: Progress | None = None) -> dict:
    """Fill the empty, migrated database at ``url`` (administrative role); return counts and timings.

    While the audit events are written (one core of Python, part of another for COPY), the
    indexes and statistics of the other tables are built beside them on one connection; the
    audit partitions' indexes and statistics follow, two at a time."""
    progress = progress or Progress()
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        _check_empty(conn)
        tables = [t for t in CORE_TABLES if _exists(conn, t)]
        core_indexes = secondary_indexes(conn, tables)
        audit_indexes = secondary_indexes(conn, ["audit.events"])
        drop_indexes(conn, core_indexes + audit_indexes)
        columns = {t: _columns(conn, t) for t in tables}
        # Past months' partitions, with the indexes ensure_partitions gives each (built below).
        audit_indexes += month_partitions(conn, plan.start_us - DAY, plan.end_us)
    gen = Generator(url, plan, progress, columns)
    gen.world()
    timings["world"] = time.perf_counter() - t0
    gen.children()
    timings["children"] = time.perf_counter() - t0 - sum(timings.values())
    gen.referrals()
    timings["referrals"] = time.perf_counter() - t0 - sum(timings.values())
    from bench.audit_events import write_events
    counts = dict(gen.counts)
    beside: list[_Background] = []
    core_jobs = core_indexes + [(f"analyze {t}", f"ANALYZE {t}") for t in tables]
    counts["audit.events"] = write_events(url, plan, gen.world_, gen.facts, progress, on_start=lambda: beside.append(
        _Background(run_parallel, url, core_jobs, width=1)))
    timings["audit"] = time.perf_counter() - t0 - sum(timings.values())
    progress.stage("indexes", len(audit_indexes) + 1)
    jobs = [("analyze audit.events",
             f"ANALYZE audit.events ({', '.join(AUDIT_STATS_COLUMNS)})")] + audit_indexes
    run_parallel(url, jobs, on_done=lambda name: progress.advance(1))
    for thread in beside:
        thread.join()
    progress.done()
    with psycopg.connect(url, autocommit=True) as conn:
        _finish(conn, tables)
    timings["indexes"] = time.perf_counter() - t0 - sum(timings.values())
    timings["total"] = time.perf_counter() - t0
    return {"counts": counts, "timings": timings}


class _Background(threading.Thread):
    """``target(*args, **kwargs)`` in a thread; ``join`` raises what it raised."""

    def __init__(self, target, *args, **kwargs):
        super().__init__(daemon=True)
        self._call = (target, args, kwargs)
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        target, args, kwargs = self._call
        try:
            target(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to join()
            self.error = exc

    def join(self, timeout=None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


def _check_empty(conn) -> None:
    for table in ("users", "children", "referrals"):
        if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
            raise RuntimeError(f"{table} is not empty: generate into a freshly migrated database")


def _exists(conn, table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None


def _columns(conn, table: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped", (table,))}


def _finish(conn, tables: list[str]) -> None:
    """Move identity sequences past the loaded ids."""
    for table in tables:
        if "id" not in _columns(conn, table):
            continue
        seq = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
        if seq and seq[0]:
            conn.execute(f"SELECT setval('{seq[0]}', coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
    conn.execute("SELECT setval('audit.events_id_seq', coalesce((SELECT max(id) FROM audit.events), 0) + 1, false)")


def assigned_or(worker: int, assigned) -> int | None:
    return None if assigned == NULL else worker


def _pick(cum: list[float], rng_random) -> int:
    return bisect.bisect(cum, rng_random() * cum[-1])


class Generator:
    """Builds the rows in time order with one random stream, so a seed fixes every value."""

    def __init__(self, url: str, plan: Plan, progress: Progress, columns: dict[str, set[str]]):
        self.url = url
        self.plan = plan
        self.progress = progress
        self.columns = columns
        self.rng = random.Random(plan.seed)
        self.ts = Timestamps()
        self.counts: dict[str, int] = {}
        self.facts = Facts()

    def _sink(self, table: str, cols: tuple[str, ...]) -> Sink:
        return Sink(self.url, table, cols)

    def _close(self, *sinks: Sink) -> None:
        for s in sinks:
            self.counts[s.table] = s.close()

    # --- the world -------------------------------------------------------------------------

    def world(self) -> None:
        from services.auth.passwords import hash_password

        w = self.world_ = world_mod.build(self.rng, self.plan.children)
        self.progress.stage("world", len(w.users))
        created = self.ts.copy(self.plan.start_us - 400 * DAY)
        password_hash = hash_password(PASSWORD)  # one hash for every user (argon2 is slow on purpose)
        regions = self._sink("regions", ("id", "code", "name", "created_at"))
        for rid, code, name in w.regions:
            regions.add(f"{rid}\t{code}\t{name}\t{created}")
        districts = self._sink("districts", ("id", "region_id", "code", "name", "created_at"))
        for did, rid, code, name in w.districts:
            districts.add(f"{did}\t{rid}\t{code}\t{name}\t{created}")
        agencies = self._sink("agencies", ("id", "code", "name", "kind", "region_id", "district_id",
                                           "created_at", "updated_at"))
        for aid, code, name, kind, rid, did in w.agencies:
            agencies.add(f"{aid}\t{code}\t{name}\t{kind}\t{rid}\t{NULL if did is None else did}\t{created}\t{created}")
        users = self._sink("users", ("id", "agency_id", "username", "full_name", "email", "password_hash",
                                     "preferred_language", "password_changed_at", "created_at", "updated_at"))
        for uid, aid, username, full_name, email, lang in w.users:
            users.add(f"{uid}\t{aid}\t{username}\t{full_name}\t{email}\t{password_hash}\t{lang}\t"
                      f"{created}\t{created}\t{created}")
        roles = self._sink("user_roles", ("user_id", "role", "granted_at"))
        for uid, role in w.roles:
            roles.add(f"{uid}\t{role}\t{created}")
        self.progress.advance(len(w.users))
        self._close(regions, districts, agencies, users, roles)

    # --- children --------------------------------------------------------------------------

    def children(self) -> None:
        plan, rng, w = self.plan, self.rng, self.world_
        rand, randrange, choice = rng.random, rng.randrange, rng.choice
        n = plan.children
        self.progress.stage("children", n)
        cum_districts = list(itertools.accumulate(w.district_weight))
        cum_ages = list(itertools.accumulate(CHILD_AGE_WEIGHTS))
        as_of = plan.as_of.date()
        sink = self._sink("children", ("id", "iin", "last_name", "first_name", "patronymic",
                                       "date_of_birth", "sex", "school_agency_id", "district_id",
                                       "region_id", "search_key", "created_by_agency_id",
                                       "created_by", "created_at"))
        self.child_district = array("i", bytes(4 * n))
        self.child_school = array("i", bytes(4 * n))
        self.family_first = array("i", bytes(4 * n))
        self.family_size = array("b", bytes(n))
        serials: dict[tuple[date, str], int] = {}
        keys: dict[tuple[str, str], str] = {}
        c = 0
        while c < n:
            r = rand()
            size = min(n - c, 1 if r < 0.6 else 2 if r < 0.88 else 3)
            district = _pick(cum_districts, rand) + 1
            region = w.region_of_district[district]
            fam = names.family(rng)
            schools = w.schools[district]
            for k in range(size):
                child = c + k
                sex = "M" if rand() < 0.51 else "F"
                age = _pick(cum_ages, rand)
                dob = as_of - timedelta(days=age * 365 + randrange(365) + 1)
                last, first, patronymic = names.member(rng, fam, sex)
                iin = NULL
                if rand() >= 0.02:
                    iin = make_iin(dob, sex, serials.get((dob, sex), 0))
                    serials[(dob, sex)] = int(iin[7:11]) + 1
                key = keys.get((last, first))
                if key is None:
                    key = keys[(last, first)] = search_key(last, first)
                school = choice(schools)
                recorder = choice(w.caseworkers[school])
                created = self.ts.copy(plan.start_us - randrange(365) * DAY - randrange(DAY))
                sink.add(f"{child + 1}\t{iin}\t{last}\t{first}\t{patronymic}\t{dob.isoformat()}\t{sex}\t"
                         f"{school}\t{district}\t{region}\t{key}\t{school}\t{recorder}\t{created}")
                self.child_district[child] = district
                self.child_school[child] = school
                self.family_first[child] = c
                self.family_size[child] = size
            c += size
            if c % 10000 < size:
                self.progress.advance(10000)
        self.progress.done()
        self._close(sink)

    # --- clocks ----------------------------------------------------------------------------

    def _open_clocks(self) -> None:
        """Sinks for clocks and escalations, and the national default policy's durations."""
        with psycopg.connect(self.url) as conn:
            self.policy_id = conn.execute(
                "SELECT id FROM deadline_policies WHERE region_id IS NULL ORDER BY version DESC LIMIT 1"
            ).fetchone()[0]
            rules = conn.execute("SELECT clock_kind, priority, amount, unit FROM deadline_rules"
                                 " WHERE policy_id = %s", (self.policy_id,)).fetchall()
        self.rules = {(k, p): (amount, unit) for k, p, amount, unit in rules}
        self.clocks_sink = self._sink("clocks", (
            "id", "kind", "subject_type", "subject_id", "child_id", "region_id", "agency_id",
            "assignee_user_id", "priority", "policy_id", "amount", "unit", "started_at", "started_by",
            "due_at", "reminder_at", "level_2_at", "level_3_at", "reminded_at", "escalation_level",
            "escalation_state", "next_action_at", "stopped_at", "stopped_by", "stop_reason", "created_at"))
        self.escalations_sink = self._sink("escalations", (
            "id", "clock_id", "round", "cause", "level", "clock_kind", "priority", "subject_type",
            "subject_id", "child_id", "region_id", "agency_id", "assignee_user_id", "raised_at",
            "level_changed_at", "state", "acknowledged_at", "acknowledged_by", "acknowledged_level",
            "resolved_at", "resolved_by", "resolution"))
        self._clock_sinks = (self.clocks_sink, self.escalations_sink)
        self.clock_id = self.escalation_id = 0

    def _clock(self, kind, subject_type, subject_id, child, region, agency, assignee, p, start,
               stop, stopper) -> None:
        """One clock (and its escalation, if its ladder was climbed before ``stop`` or as_of).

        Due times use calendar approximations of the policy's units (a working day is 1.4
        calendar days, a month 30.4 days): enough for load, not the calendar arithmetic of
        services/clocks, which the application applies to every clock it starts itself."""
        rule = self.rules.get((kind, PRIORITIES[p])) or self.rules.get((kind, "any"))
        if rule is None:
            return
        amount, unit = rule
        length = int(amount * UNIT_US[unit])
        due = start + length
        reminder = start + length * 3 // 4
        level_2 = due + int(1.4 * DAY)
        level_3 = level_2 + int(4.2 * DAY)
        end = self.plan.end_us
        upto = stop or end  # the sweep has taken every step due before this
        level = 3 if level_3 <= upto else 2 if level_2 <= upto else 1 if due <= upto else 0
        ts = self.ts.copy
        self.clock_id += 1
        cid = self.clock_id
        if stop:
            next_at, state = NULL, "resolved" if level else "none"
        else:
            upcoming = [x for x in (reminder, due, level_2, level_3) if x > end]
            next_at = ts(upcoming[0]) if upcoming else NULL
            state = "open" if level else "none"
        acknowledged = bool(level) and not stop and (cid % 10) < 3
        if acknowledged:
            state = "acknowledged"
        bosses = self.world_.supervisors[agency]
        boss = bosses[cid % len(bosses)] if bosses else None
        # Each instant is rendered once (rendering is most of a clock's cost).
        start_s, due_s, reminder_s = ts(start), ts(due), ts(reminder)
        stop_s = ts(stop) if stop else NULL
        self.clocks_sink.add(
            f"{cid}\t{kind}\t{subject_type}\t{subject_id}\t{child}\t{region}\t{agency}\t"
            f"{NULL if assignee is None else assignee}\t{PRIORITIES[p]}\t{self.policy_id}\t{amount}\t{unit}\t"
            f"{start_s}\t{NULL}\t{due_s}\t{reminder_s}\t{ts(level_2)}\t{ts(level_3)}\t"
            f"{reminder_s if reminder <= upto else NULL}\t{level}\t{state}\t{next_at}\t"
            f"{stop_s}\t{NULL if not stop or stopper is None else stopper}\t"
            f"{'completed' if stop else NULL}\t{start_s}")
        if level:
            self.escalation_id += 1
            changed = (due, level_2, level_3)[level - 1]
            if stop:
                tail = f"resolved\t{NULL}\t{NULL}\t{NULL}\t{stop_s}\t{NULL}\tclock_stopped"
            elif acknowledged and boss is not None:
                tail = f"acknowledged\t{ts(changed + HOUR)}\t{boss}\t{level}\t{NULL}\t{NULL}\t{NULL}"
            else:
                tail = f"open\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}\t{NULL}"
            self.escalations_sink.add(
                f"{self.escalation_id}\t{cid}\t1\tdeadline_breached\t{level}\t{kind}\t{PRIORITIES[p]}\t"
                f"{subject_type}\t{subject_id}\t{child}\t{region}\t{agency}\t"
                f"{NULL if assignee is None else assignee}\t{due_s}\t{ts(changed)}\t{tail}")

    # --- referrals, cases and what hangs off them -------------------------------------------

    def referrals(self) -> None:
        plan, rng, w, f = self.plan, self.rng, self.world_, self.facts
        rand, randrange, choice = rng.random, rng.randrange, rng.choice
        ts = self.ts.copy
        m, n = plan.referrals, plan.children
        end = plan.end_us
        self.progress.stage("referrals", m)
        cum_sources = list(itertools.accumulate(SOURCE_WEIGHTS))
        cum_categories = list(itertools.accumulate(CATEGORY_WEIGHTS))
        cum_priority = list(itertools.accumulate(PRIORITY_WEIGHTS))
        cum_grave = list(itertools.accumulate(GRAVE_PRIORITY_WEIGHTS))
        has_note = "decision_note" in self.columns.get("referral_recipients", ())
        has_assessment_referral = "referral_id" in self.columns.get("assessments", ())
        referrals = self._sink("referrals", (
            "id", "version", "state", "priority", "categories", "observed_at", "observed_place",
            "observation", "risk", "referring_agency_id", "region_id", "district_id", "created_by",
            "created_at", "submitted_at", "updated_at"))
        referrers = self._sink("referral_referrers", ("referral_id", "user_id", "full_name", "contact"))
        rchildren = self._sink("referral_children", ("referral_id", "child_id"))
        recipients = self._sink("referral_recipients", (
            "referral_id", "agency_id", "status", "decided_by", "decided_at", "redirected_to")
            + (("decision_note",) if has_note else ()))
        updates = self._sink("referrer_updates", ("referral_id", "referring_agency_id", "status", "created_at"))
        cases = self._sink("cases", ("id", "child_id", "region_id", "district_id", "lead_agency_id",
                                     "state", "priority", "opened_at", "closed_at"))
        case_refs = self._sink("case_referrals", ("case_id", "referral_id"))
        participants = self._sink("case_participants", ("case_id", "agency_id", "assigned_user_id", "joined_at"))
        assessments = self._sink("assessments", (
            "id", "case_id", "kind", "agency_id", "assignee_user_id", "state", "outcome",
            "created_at", "completed_at") + (("referral_id",) if has_assessment_referral else ()))
        entries = self._sink("chronology_entries", ("id", "case_id", "child_id", "kind", "visibility",
                                                    "author_user_id", "agency_id", "occurred_at", "created_at"))
        bodies = self._sink("chronology_bodies", ("entry_id", "body"))
        self._open_clocks()
        open_case = array("q", bytes(8 * n))       # the child's open case id, 0 if none
        open_until = array("q", bytes(8 * n))      # when that case closes
        case_parts = array("b")                    # by case: bits of PARTICIPANT_KINDS taking part
        case_id = assessment_id = entry_id = 0
        user_name = {u[0]: u[3] for u in w.users}
        single = w.single
        for j in range(m):
            rid = j + 1
            t = plan.filed_at(j)
            c = randrange(n)
            district = self.child_district[c]
            region = w.region_of_district[district]
            source = SOURCES[_pick(cum_sources, rand)]
            if source == "school":
                ref_agency = self.child_school[c]
            elif source == "ngo":
                ref_agency = choice(w.ngos[region])
            else:
                ref_agency = single[source][district]
            creator = choice(w.caseworkers[ref_agency])
            cats = [CATEGORIES[_pick(cum_categories, rand)]]
            if rand() < 0.15:
                extra = CATEGORIES[_pick(cum_categories, rand)]
                if extra != cats[0]:
                    cats.append(extra)
            grave = GRAVE.intersection(cats)
            p = _pick(cum_grave if grave else cum_priority, rand)
            late = rand() < LATE_SHARE
            lag = DECISION_LAG[p] * (4 if late else 1)
            # Who receives it: social services (guardianship) always, unless they filed it.
            lead = single["social_services"][district] if source != "social_services" else single["police"][district]
            rcpts = [lead]
            police, psych = single["police"][district], single["psychology"][district]
            if police not in rcpts and police != ref_agency and POLICE_CATEGORIES.intersection(cats):
                rcpts.append(police)
            if psych != ref_agency and PSYCH_CATEGORIES.intersection(cats) and rand() < 0.7:
                rcpts.append(psych)
            decided_at = t + lag
            r = rand()
            if decided_at <= end:
                state = ACCEPTED if r < OUTCOME_CUTS[0] else SCREENED_OUT if r < OUTCOME_CUTS[1] else REDIRECTED
            else:
                state = SUBMITTED if t + 10 * 60 * US > end else SCREENING
            screener = choice(w.caseworkers[lead])
            decider = choice(w.supervisors[lead]) if state == SCREENED_OUT else screener
            fam_first, fam_size = self.family_first[c], self.family_size[c]
            kids = [c]
            if fam_size > 1 and rand() < 0.3:
                kids = list(range(fam_first, fam_first + fam_size))
                kids.remove(c)
                kids.insert(0, c)
            t_s = ts(t)
            observed = ts(t - randrange(1, 72) * HOUR)
            decided = state <= REDIRECTED
            updated = ts(decided_at) if decided else t_s
            risk = '{"asq": "positive"}' if "self_harm_suicide_risk" in cats else "{}"
            referrals.add(f"{rid}\t1\t{STATE_NAMES[state]}\t{PRIORITIES[p]}\t{{{','.join(cats)}}}\t{observed}\t"
                          f"{choice(PLACES)}\t{OBSERVATIONS[cats[0]]}\t{risk}\t{ref_agency}\t{region}\t{district}\t"
                          f"{creator}\t{t_s}\t{t_s}\t{updated}")
            referrers.add(f"{rid}\t{creator}\t{user_name[creator]}\t+7 7{(creator * 7919) % 10**9:09d}")
            for k in kids:
                rchildren.add(f"{rid}\t{k + 1}")
            updates.add(f"{rid}\t{ref_agency}\treceived\t{ts(t + 5 * 60 * US)}")
            d_s = ts(decided_at)
            note = ""
            if state == ACCEPTED:
                for a in rcpts:
                    who = screener if a == lead else choice(w.caseworkers[a])
                    recipients.add(f"{rid}\t{a}\taccepted\t{who}\t{d_s}\t{NULL}" + (f"\t{NULL}" if has_note else ""))
                updates.add(f"{rid}\t{ref_agency}\taccepted\t{ts(decided_at + 60 * US)}")
            elif state == SCREENED_OUT:
                for a in rcpts:
                    who = decider if a == lead else choice(w.supervisors[a])
                    recipients.add(f"{rid}\t{a}\tscreened_out\t{who}\t{d_s}\t{NULL}" + (f"\t{NULL}" if has_note else ""))
                updates.add(f"{rid}\t{ref_agency}\tno_further_action\t{ts(decided_at + 60 * US)}")
            elif state == REDIRECTED:
                target = single["health"][district] if rand() < 0.5 else choice(w.ngos[region])
                if has_note:
                    note = "\tНаправлено по компетенции"
                for a in rcpts:
                    who = screener if a == lead else choice(w.caseworkers[a])
                    recipients.add(f"{rid}\t{a}\tredirected\t{who}\t{d_s}\t{target}{note}")
                updates.add(f"{rid}\t{ref_agency}\tno_further_action\t{ts(decided_at + 60 * US)}")
            else:
                for a in rcpts:
                    recipients.add(f"{rid}\t{a}\tpending\t{NULL}\t{NULL}\t{NULL}" + (f"\t{NULL}" if has_note else ""))
            stop = decided_at if decided else 0
            # One running clock per subject and kind (clocks_running_key): the lead recipient's.
            self._clock("screening_decision", "referral", rid, c + 1, region, lead, screener, p, t,
                        stop, decider if stop else None)
            first_case = 0
            new_first = 0
            if state == ACCEPTED:
                for k in kids:
                    if open_case[k] and open_until[k] > decided_at:
                        linked = open_case[k]
                        case_refs.add(f"{linked}\t{rid}")
                        # The agencies that accepted take part in the case they linked it to.
                        for a in rcpts:
                            bit = 1 << PARTICIPANT_KINDS.index(w.kind_of_agency[a])
                            if not case_parts[linked - 1] & bit:
                                case_parts[linked - 1] |= bit
                                joined = screener if a == lead else choice(w.caseworkers[a])
                                participants.add(f"{linked}\t{a}\t{joined}\t{d_s}")
                        if not first_case:
                            first_case = linked
                        continue
                    case_id += 1
                    if not first_case:
                        first_case, new_first = case_id, 1
                    u = rand()
                    lo, hi = CASE_LENGTH[0 if u < 0.2 else 1 if u < 0.7 else 2]
                    length = (lo + rand() * (hi - lo)) * DAY
                    closes = decided_at + int(length)
                    opened_s = ts(decided_at + 5 * 60 * US)
                    if closes <= end:
                        cstate, closed_s, closed_flag = "closed", ts(closes), closes
                    else:
                        age = (end - decided_at) // DAY
                        cstate = ("open" if age < 10 else "assessment" if age < 45
                                  else "planning" if age < 90 else "monitoring")
                        closed_s, closed_flag = NULL, 0
                    open_case[k], open_until[k] = case_id, closes
                    child_district = self.child_district[k]
                    cases.add(f"{case_id}\t{k + 1}\t{w.region_of_district[child_district]}\t{child_district}\t"
                              f"{lead}\t{cstate}\t{PRIORITIES[p]}\t{opened_s}\t{closed_s}")
                    case_refs.add(f"{case_id}\t{rid}")
                    worker = screener
                    assigned = NULL if (not closed_flag and rand() < 0.08) else worker
                    participants.add(f"{case_id}\t{lead}\t{assigned}\t{opened_s}")
                    case_parts.append(sum(1 << PARTICIPANT_KINDS.index(w.kind_of_agency[a])
                                          for a in set(rcpts) | {psych}))
                    for a in rcpts[1:]:
                        participants.add(f"{case_id}\t{a}\t{choice(w.caseworkers[a])}\t{opened_s}")
                    if psych not in rcpts:
                        psych_worker = choice(w.caseworkers[psych])
                        participants.add(f"{case_id}\t{psych}\t{psych_worker}\t{opened_s}")
                    else:
                        psych_worker = w.caseworkers[psych][0]
                    done_at = decided_at + (10 + randrange(5)) * DAY
                    done = done_at <= end
                    extra = f"\t{rid}" if has_assessment_referral else ""
                    for kind, agency, who in (("psychological", psych, psych_worker), ("legal", lead, worker)):
                        assessment_id += 1
                        assessments.add(
                            f"{assessment_id}\t{case_id}\t{kind}\t{agency}\t{who}\t"
                            f"{'completed' if done else 'assigned'}\t{'assessed' if done else NULL}\t"
                            f"{ts(decided_at + 30 * 60 * US)}\t{ts(done_at) if done else NULL}{extra}")
                    child_region = w.region_of_district[child_district]
                    self._clock("first_contact", "case", case_id, k + 1, child_region, lead, assigned_or(worker, assigned),
                                p, decided_at, decided_at + DAY if decided_at + DAY <= end else 0, worker)
                    for nth, (agency, who) in enumerate(((psych, psych_worker), (lead, worker))):
                        self._clock("assessment", "assessment", assessment_id - 1 + nth, k + 1, child_region,
                                    agency, who, p, decided_at, done_at if done else 0, who if done else None)
                    self._clock("whole_assessment", "case", case_id, k + 1, child_region, lead,
                                assigned_or(worker, assigned), p, t, done_at if done else 0, worker if done else None)
                    self._clock("first_review", "case", case_id, k + 1, child_region, lead,
                                assigned_or(worker, assigned), p, decided_at, closed_flag, worker if closed_flag else None)
                    contact_at = decided_at + DAY
                    if contact_at <= end:
                        entry_id += 1
                        entries.add(f"{entry_id}\t{case_id}\t{k + 1}\tcontact\tall_participants\t{worker}\t"
                                    f"{lead}\t{ts(contact_at)}\t{ts(contact_at + 600 * US)}")
                        bodies.add(f"{entry_id}\tВстреча с ребёнком и законным представителем, условия проживания осмотрены.")
                    if done:
                        entry_id += 1
                        vis = "restricted" if grave else "all_participants" if rand() < 0.7 else "own_agency"
                        entries.add(f"{entry_id}\t{case_id}\t{k + 1}\tassessment_result\t{vis}\t{psych_worker}\t"
                                    f"{psych}\t{ts(done_at)}\t{ts(done_at + 600 * US)}")
                        bodies.add(f"{entry_id}\tПсихологическая оценка завершена, рекомендовано сопровождение.")
                    f.case_lead.append(lead)
                    f.case_worker.append(worker)
                    f.case_psych_agency.append(psych)
                    f.case_psych_worker.append(psych_worker)
                    f.case_closed.append(closed_flag)
            f.child.append(c + 1)
            f.ref_agency.append(ref_agency)
            f.creator.append(creator)
            f.lead.append(lead)
            f.screener.append(screener)
            f.decider.append(decider)
            f.state.append(state)
            f.decision_class.append(p * 2 + late)
            f.case.append(first_case)
            f.new_case.append(new_first)
            if j % 10000 == 9999:
                self.progress.advance(10000)
        self.progress.done()
        self._close(referrals, referrers, rchildren, recipients, updates, cases, case_refs,
                    participants, assessments, entries, bodies, *self._clock_sinks)
