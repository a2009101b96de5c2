"""Recompute every chain and every checkpoint, and name the first event that does not fit.

Each chain is checked (``audit/chains.py``) in parallel worker processes, all inside one
exported snapshot so they see the same log; each hashes the events a checkpoint covers into
compact Merkle ranges. This coordinator plans which events each checkpoint appended, joins the
ranges in checkpoint order, compares roots and heads with what was signed, and checks the
signatures.

What each check catches: a changed field breaks that event's hash; a deleted, inserted or
reordered event breaks ``seq`` or the link; a suffix rewritten with recomputed hashes is
consistent on its own and is caught only by the signed checkpoints that cover it, which name the
range of events rewritten since the last checkpoint that still matches.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Callable

import psycopg
from psycopg.rows import dict_row

from audit import signing
from audit.canonical import GENESIS
from audit.chains import (ChainResult, Segment, join_snapshot, open_worker, reader, verify_chain,
                          verify_in_worker)
from audit.checkpoints import Checkpoint, CheckpointFormatError
from audit.merkle import CompactRange
from audit.problems import Problem, Report

__all__ = ["Problem", "Report", "verify", "verify_checkpoint"]

PARALLEL_FROM = 200_000  # below this, starting worker processes costs more than it saves
NO_LIMIT = 2**62


@dataclass
class _Plan:
    heads: list[tuple[int, bytes]]
    checkpoints: list[dict]
    start: list[tuple[int, bytes]]
    stop: list[int]
    base: CompactRange
    segments: dict[int, list[Segment]]
    anchor: dict | None = None


def _plan(conn, since: int | None, until: int | None, report: Report) -> _Plan:
    heads = [(r["seq"], bytes(r["hash"])) for r in conn.execute(
        "SELECT chain, seq, hash FROM audit.chain_heads")]
    rows = conn.execute("SELECT * FROM audit.checkpoints ORDER BY id").fetchall()
    n = len(heads)
    start = [(0, GENESIS)] * n
    base = CompactRange()
    anchor = None
    if since is not None:
        anchor = next((r for r in rows if r["id"] == since), None)
        if anchor is None:
            raise LookupError(f"there is no checkpoint {since}")
        start = [(s, bytes(h)) for s, h in zip(anchor["chain_seqs"], anchor["chain_heads"])]
        start += [(0, GENESIS)] * (n - len(start))
        base = CompactRange.from_frontier(anchor["tree_size"], [bytes(h) for h in anchor["frontier"]])
        rows = [r for r in rows if r["id"] > since]
    if until is not None:
        rows = [r for r in rows if r["id"] <= until]
    segments: dict[int, list[Segment]] = {c: [] for c in range(n)}
    seqs, offset = [s for s, _ in start], base.end
    expected_id = since + 1 if since is not None else 1
    for row in rows:
        if row["id"] != expected_id:
            report.problems.append(Problem("missing_checkpoint",
                                           f"checkpoint {expected_id} is missing",
                                           checkpoint_id=expected_id))
        expected_id = row["id"] + 1
        upto = list(row["chain_seqs"])
        for c, hi in enumerate(upto):
            lo = seqs[c] if c < n else 0
            if c >= n or hi < lo:
                report.problems.append(Problem("checkpoint_inconsistent",
                                               f"chain {c} goes back from {lo} to {hi}",
                                               chain=c, checkpoint_id=row["id"]))
                continue
            if hi > lo:
                segments[c].append(Segment(row["id"], lo, hi, offset))
                offset += hi - lo
            seqs[c] = hi
    stop = [seqs[c] if until is not None else NO_LIMIT for c in range(n)]
    return _Plan(heads, rows, start, stop, base, segments, anchor)


def verify(url: str, *, since: int | None = None, until: int | None = None, public_key=None,
           workers: int | None = None, on_plan: Callable[[int], None] | None = None,
           on_progress: Callable[[int], None] | None = None) -> Report:
    """Verify the audit log at ``url`` (a role that reads every event: superuser or auditor).

    ``since`` starts from a checkpoint (trusting what it signed); ``until`` stops at one
    (``verify-checkpoint``); ``workers`` > 1 checks chains in that many processes (by default
    one per CPU, for logs big enough to repay starting them). ``on_plan`` hears how many events
    will be checked, ``on_progress`` how many more are done.
    """
    report = Report(signatures_checked=public_key is not None)
    with reader(url, row_factory=dict_row) as conn:
        snapshot = conn.execute("SELECT pg_export_snapshot() AS s").fetchone()["s"]
        log_id = str(conn.execute("SELECT log_id FROM audit.log_info").fetchone()["log_id"])
        plan = _plan(conn, since, until, report)
        tasks = [(c, *plan.start[c], plan.stop[c], plan.segments[c])
                 for c in range(len(plan.heads))]
        total = sum(_size(task, plan) for task in tasks)
        if workers is None:
            workers = (os.cpu_count() or 1) if total >= PARALLEL_FROM else 1
        if on_plan:
            on_plan(total)
        results = _run(url, snapshot, tasks, workers, on_progress, plan)
        conn.rollback()
    report.chains = len(results)
    report.events = sum(r.events for r in results.values())
    for _, r in sorted(results.items()):
        report.problems += r.problems
    _check_checkpoints(plan, results, log_id, public_key, report)
    return report


def _run(url, snapshot, tasks, workers, on_progress, plan) -> dict[int, ChainResult]:
    """Check every chain, in ``workers`` processes when more than one, largest chains first."""
    def size(task):
        return _size(task, plan)

    tasks = sorted(tasks, key=size, reverse=True)
    results: dict[int, ChainResult] = {}
    if workers <= 1:
        with join_snapshot(reader(url), snapshot) as conn:
            for task in tasks:
                results[task[0]] = verify_chain(conn, *task)
                if on_progress:
                    on_progress(size(task))
            conn.rollback()
        return results
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn"),
                             initializer=open_worker, initargs=(url, snapshot)) as pool:
        futures = {pool.submit(verify_in_worker, task): task for task in tasks}
        for future in as_completed(futures):
            result = future.result()
            results[result.chain] = result
            if on_progress:
                on_progress(size(futures[future]))
    return results


def _size(task: tuple, plan: _Plan) -> int:
    """How many events a chain task will read (by its head; for the progress bar)."""
    chain, start_seq, _, stop_seq, _ = task
    return max(0, min(plan.heads[chain][0], stop_seq) - start_seq)


def _check_checkpoints(plan: _Plan, results: dict[int, ChainResult], log_id: str, public_key,
                       report: Report) -> None:
    tree = CompactRange(0, plan.base.end, list(plan.base.nodes))
    comparable = True
    if plan.anchor is not None:  # --since: the starting point must itself be what was signed
        _check_body(plan.anchor, log_id, public_key, report)
        if (tree.end, tree.root()) != (plan.anchor["tree_size"], bytes(plan.anchor["root_hash"])):
            report.problems.append(Problem("checkpoint_altered", "the stored frontier does not "
                                           "give the signed root", checkpoint_id=plan.anchor["id"]))
    for row in plan.checkpoints:
        report.checkpoints += 1
        cid = row["id"]
        _check_body(row, log_id, public_key, report)
        changed = []
        for c in range(len(plan.heads)):
            seg = next((s for s in plan.segments[c] if s.checkpoint_id == cid), None)
            if seg is None:
                continue
            rng = results[c].ranges[cid]
            if rng.end - rng.begin != seg.hi - seg.lo:
                changed.append((c, seg, f"holds {rng.end - rng.begin} of its "
                                        f"{seg.hi - seg.lo} events"))
            elif results[c].hashes_at.get(seg.hi) != bytes(row["chain_heads"][c]):
                changed.append((c, seg, "does not end in the signed head"))
            if comparable:
                try:
                    tree.extend(rng)
                except ValueError:
                    comparable = False
        for c, seg, what in changed:
            report.problems.append(Problem(
                "rewritten_after_checkpoint",
                f"chain {c} seq {seg.lo + 1}..{seg.hi} {what}: these events were changed after "
                f"checkpoint {cid} was signed", c, seg.lo + 1,
                results[c].first_ids.get(cid), cid))
        if comparable and (tree.end != row["tree_size"] or tree.root() != bytes(row["root_hash"])):
            report.problems.append(Problem(
                "root_mismatch", f"the events give a tree of {tree.end} leaves with a root that "
                "is not the signed one", checkpoint_id=cid))
        if changed or tree.end != row["tree_size"]:
            comparable = False  # later roots include these leaves; report only the first


def _check_body(row: dict, log_id: str, public_key, report: Report) -> None:
    cid = row["id"]
    try:
        cp = Checkpoint.parse(row["body"])
    except CheckpointFormatError as exc:
        report.problems.append(Problem("checkpoint_unreadable", str(exc), checkpoint_id=cid))
        return
    stated = Checkpoint(log_id=log_id, id=cid, created_at=row["created_at"],
                        tree_size=row["tree_size"], root_hash=bytes(row["root_hash"]),
                        key_id=row["key_id"], chain_seqs=tuple(row["chain_seqs"]),
                        chain_heads=tuple(bytes(h) for h in row["chain_heads"]))
    if cp != stated:
        report.problems.append(Problem("checkpoint_altered",
                                       "the stored columns disagree with the signed body",
                                       checkpoint_id=cid))
    if public_key is not None:
        if cp.key_id != signing.key_id(public_key):
            report.problems.append(Problem("checkpoint_wrong_key",
                                           f"signed by key {cp.key_id}, not the one given",
                                           checkpoint_id=cid))
        elif not signing.verify(public_key, row["body"].encode(), bytes(row["signature"])):
            report.problems.append(Problem("checkpoint_bad_signature",
                                           "the signature does not verify",
                                           checkpoint_id=cid))


def verify_checkpoint(url: str, signed, public_key, *, workers: int | None = 1,
                      on_plan: Callable[[int], None] | None = None,
                      on_progress: Callable[[int], None] | None = None) -> Report:
    """Check an exported checkpoint against the database: signature, identity, and every event
    it covers, recomputed into the root it signs."""
    cp = signed.checkpoint
    if not signed.verify(public_key):
        return Report(signatures_checked=True, problems=[Problem(
            "checkpoint_bad_signature", "the file's signature does not verify with this key",
            checkpoint_id=cp.id)])
    with psycopg.connect(url, row_factory=dict_row) as conn:
        log_id = str(conn.execute("SELECT log_id FROM audit.log_info").fetchone()["log_id"])
        row = conn.execute("SELECT body, signature FROM audit.checkpoints WHERE id = %s",
                           (cp.id,)).fetchone()
    if log_id != cp.log_id:
        return Report(signatures_checked=True, problems=[Problem(
            "wrong_log", f"the file is for log {cp.log_id}, this database holds log {log_id}",
            checkpoint_id=cp.id)])
    if row is None:
        return Report(signatures_checked=True, problems=[Problem(
            "missing_checkpoint", "the database no longer holds this checkpoint",
            checkpoint_id=cp.id)])
    report = verify(url, until=cp.id, public_key=public_key, workers=workers, on_plan=on_plan,
                    on_progress=on_progress)
    if row["body"] != cp.body() or bytes(row["signature"]) != signed.signature:
        report.problems.insert(0, Problem("checkpoint_replaced",
                                          "the database's checkpoint differs from the file",
                                          checkpoint_id=cp.id))
    return report
