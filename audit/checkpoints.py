"""Signed checkpoints: every minute, an Ed25519 signature over the Merkle root of all event hashes.

The leaves of the tree are event hashes in checkpoint order: checkpoint k appends, chain by chain
in ascending chain number, the events each chain gained since checkpoint k-1 (in ``seq`` order).
So the tree only ever grows, each checkpoint extends the previous one, and the whole order is
fixed by the ``(chain, seq)`` heads each signed body lists. Rewriting any covered event, even
with every later hash recomputed, changes the root, and only the holder of the private key can
sign a new one.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from audit import signing
from audit.merkle import CompactRange, leaf_hash

FORMAT = "qorgau-audit-checkpoint/1"
HEADER = "qorgau audit checkpoint v1"
LOCK_KEY = 0x51A0D17  # pg_advisory_xact_lock key: one checkpoint writer at a time


class CheckpointRefused(RuntimeError):
    """The log is not in a state that may be signed (run ``flask audit verify``)."""


class CheckpointFormatError(ValueError):
    """An exported checkpoint that cannot be read; the message says what is wrong."""


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint states; ``body()`` is the exact text that is signed."""

    log_id: str
    id: int
    created_at: datetime
    tree_size: int
    root_hash: bytes
    key_id: str
    chain_seqs: tuple[int, ...]
    chain_heads: tuple[bytes, ...]

    def body(self) -> str:
        lines = [
            HEADER,
            f"log {self.log_id}",
            f"id {self.id}",
            f"time {_iso(self.created_at)}",
            f"size {self.tree_size}",
            f"root {self.root_hash.hex()}",
            f"key {self.key_id}",
            f"chains {len(self.chain_seqs)}",
        ]
        lines += [f"{c} {seq} {head.hex()}"
                  for c, (seq, head) in enumerate(zip(self.chain_seqs, self.chain_heads))]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, body: str) -> "Checkpoint":
        """Read a signed body back; the inverse of ``body()``."""
        try:
            lines = body.split("\n")
            if lines[0] != HEADER or lines[-1] != "":
                raise ValueError("not a version 1 checkpoint body")
            fields = dict(line.split(" ", 1) for line in lines[1:8])
            count = int(fields["chains"])
            rows = [line.split(" ") for line in lines[8:8 + count]]
            if len(lines) != 9 + count or any(int(r[0]) != i for i, r in enumerate(rows)):
                raise ValueError("the chain lines are not 0..n-1")
            checkpoint = cls(
                log_id=fields["log"], id=int(fields["id"]),
                created_at=datetime.fromisoformat(fields["time"].replace("Z", "+00:00")),
                tree_size=int(fields["size"]), root_hash=bytes.fromhex(fields["root"]),
                key_id=fields["key"], chain_seqs=tuple(int(r[1]) for r in rows),
                chain_heads=tuple(bytes.fromhex(r[2]) for r in rows))
        except (KeyError, IndexError, ValueError) as exc:
            raise CheckpointFormatError(f"unreadable checkpoint body: {exc}") from exc
        if checkpoint.body() != body:
            raise CheckpointFormatError("the checkpoint body is not in canonical form")
        return checkpoint


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    signature: bytes

    def verify(self, public_key) -> bool:
        """True if the body carries a valid signature by ``public_key``."""
        return (signing.key_id(public_key) == self.checkpoint.key_id
                and signing.verify(public_key, self.checkpoint.body().encode(), self.signature))


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _latest(conn) -> dict | None:
    return conn.execute(
        "SELECT id, tree_size, chain_seqs, chain_heads, frontier FROM audit.checkpoints"
        " ORDER BY id DESC LIMIT 1").fetchone()


def _check_signed_heads(conn, last: dict) -> None:
    """Refuse to extend a tree whose last signed head of some chain is no longer in the log."""
    rows = conn.execute(
        "SELECT r.chain, e.hash FROM unnest(%s::int[], %s::bigint[]) AS r(chain, seq)"
        " LEFT JOIN audit.events e ON e.chain = r.chain AND e.seq = r.seq"
        " WHERE r.seq > 0 ORDER BY r.chain",
        (list(range(len(last["chain_seqs"]))), list(last["chain_seqs"]))).fetchall()
    for row in rows:
        if row["hash"] is None or bytes(row["hash"]) != bytes(last["chain_heads"][row["chain"]]):
            raise CheckpointRefused(f"audit chain {row['chain']} no longer ends where checkpoint "
                                    f"{last['id']} signed it; refusing to sign (run `flask "
                                    "audit verify`)")


def _new_leaves(conn, since: list[int], upto: list[int]) -> Iterator[bytes]:
    """The hash of every event after ``since`` up to ``upto``, in leaf order, streamed; refuses a
    chain whose events there are not exactly seq ``since + 1 .. upto``."""
    chains = [c for c in range(len(upto)) if upto[c] > since[c]]
    want = iter([(c, since[c] + 1) for c in chains])
    expected = next(want, None)
    with conn.cursor(name="audit_checkpoint_leaves") as cur:
        cur.itersize = 10_000
        cur.execute(
            "SELECT e.chain, e.seq, e.hash FROM audit.events e"
            " JOIN unnest(%s::int[], %s::bigint[], %s::bigint[]) AS r(chain, lo, hi)"
            "   ON e.chain = r.chain AND e.seq > r.lo AND e.seq <= r.hi"
            " ORDER BY e.chain, e.seq",
            (chains, [since[c] for c in chains], [upto[c] for c in chains]))
        for row in cur:
            if expected is None or (row["chain"], row["seq"]) != expected:
                raise CheckpointRefused("the audit chains have gaps or duplicates; refusing to "
                                        "sign them (run `flask audit verify`)")
            yield bytes(row["hash"])
            chain, seq = expected
            expected = (chain, seq + 1) if seq < upto[chain] else next(want, None)
    if expected is not None:
        raise CheckpointRefused(f"audit chain {expected[0]} lacks events from seq {expected[1]}; "
                                "refusing to sign it (run `flask audit verify`)")


def write_checkpoint(conn, private_key, *, now: datetime | None = None) -> SignedCheckpoint | None:
    """Sign a checkpoint over the events committed since the last one; None if there are none.

    Safe to run twice or concurrently: writers take turns on an advisory lock and the second
    finds nothing new.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    heads = conn.execute("SELECT chain, seq, hash FROM audit.chain_heads").fetchall()
    if [h["chain"] for h in heads] != list(range(len(heads))):
        raise CheckpointRefused("audit chain numbers are not 0..n-1")
    upto = [h["seq"] for h in heads]
    last = _latest(conn)
    since = list(last["chain_seqs"]) if last else []
    since += [0] * (len(upto) - len(since))
    if upto == since:
        return None
    if any(u < s for u, s in zip(upto, since)):
        raise CheckpointRefused("a chain head is behind the last checkpoint")
    if last:
        _check_signed_heads(conn, last)
    tree = (CompactRange.from_frontier(last["tree_size"], [bytes(h) for h in last["frontier"]])
            if last else CompactRange())
    for digest in _new_leaves(conn, since, upto):
        tree.append(leaf_hash(digest))
    log_id = str(conn.execute("SELECT log_id FROM audit.log_info").fetchone()["log_id"])
    checkpoint = Checkpoint(
        log_id=log_id, id=(last["id"] + 1) if last else 1,
        created_at=now or datetime.now(timezone.utc), tree_size=tree.end,
        root_hash=tree.root(), key_id=signing.key_id(private_key.public_key()),
        chain_seqs=tuple(upto), chain_heads=tuple(bytes(h["hash"]) for h in heads))
    signature = signing.sign(private_key, checkpoint.body().encode())
    conn.execute(
        "INSERT INTO audit.checkpoints (id, created_at, tree_size, root_hash, chain_seqs,"
        " chain_heads, frontier, key_id, body, signature)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (checkpoint.id, checkpoint.created_at, checkpoint.tree_size, checkpoint.root_hash,
         list(checkpoint.chain_seqs), list(checkpoint.chain_heads), tree.hashes(),
         checkpoint.key_id, checkpoint.body(), signature))
    return SignedCheckpoint(checkpoint, signature)


def load(conn, checkpoint_id: int) -> SignedCheckpoint | None:
    """The stored checkpoint ``checkpoint_id`` as signed (its body, not its columns)."""
    row = conn.execute("SELECT body, signature FROM audit.checkpoints WHERE id = %s",
                       (checkpoint_id,)).fetchone()
    if row is None:
        return None
    return SignedCheckpoint(Checkpoint.parse(row["body"]), bytes(row["signature"]))


def export_json(signed: SignedCheckpoint) -> str:
    """The checkpoint as a JSON document for an outside party; ``body`` is what was signed."""
    cp = signed.checkpoint
    doc = {
        "format": FORMAT,
        "log_id": cp.log_id,
        "checkpoint_id": cp.id,
        "created_at": _iso(cp.created_at),
        "tree_size": cp.tree_size,
        "root_hash": cp.root_hash.hex(),
        "key_id": cp.key_id,
        "chains": [{"chain": c, "seq": s, "head": h.hex()}
                   for c, (s, h) in enumerate(zip(cp.chain_seqs, cp.chain_heads))],
        "signature_alg": "Ed25519",
        "body": cp.body(),
        "signature": base64.b64encode(signed.signature).decode(),
    }
    return json.dumps(doc, indent=2) + "\n"


def import_json(text: str) -> SignedCheckpoint:
    """Read an exported checkpoint; its informational fields must agree with its signed body."""
    try:
        doc = json.loads(text)
        if doc.get("format") != FORMAT:
            raise CheckpointFormatError(f"not a {FORMAT} document")
        signed = SignedCheckpoint(Checkpoint.parse(doc["body"]),
                                  base64.b64decode(doc["signature"], validate=True))
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, CheckpointFormatError):
            raise
        raise CheckpointFormatError(f"unreadable checkpoint file: {exc}") from exc
    if json.loads(export_json(signed)) != doc:
        raise CheckpointFormatError("the file's fields disagree with its signed body")
    return signed
