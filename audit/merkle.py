"""RFC 9162 (Certificate Transparency v2) Merkle trees over SHA-256: roots, proofs, compact ranges.

The audit log's leaves are event hashes in checkpoint order. A ``CompactRange`` holds only the
roots of the perfect subtrees covering a run of leaves, so a checkpoint extends the previous
tree in O(new + log n) and parallel verifiers can hash disjoint runs and merge them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: list[bytes]) -> bytes:
    """MTH over already leaf-hashed entries."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(leaves: list[bytes], index: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) over leaf hashes."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError("leaf index outside the tree")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(leaves[:k], index) + [root(leaves[k:])]
    return inclusion_proof(leaves[k:], index - k) + [root(leaves[:k])]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], expected: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` place ``leaf`` (a leaf hash) at ``index`` under ``expected``?"""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected


def consistency_proof(leaves: list[bytes], first: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) over leaf hashes."""
    if not 0 < first <= len(leaves):
        raise ValueError("first size must be between 1 and the tree size")
    return _subproof(first, leaves, True)


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [root(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [root(leaves[:k])]


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``second`` an extension of the one of size ``first``?"""
    if first < 0 or second < first:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


@dataclass
class CompactRange:
    """The leaves ``[begin, end)`` of a tree, kept as the roots of its maximal perfect subtrees.

    Nodes are ``(level, index)`` pairs with their hash: the node covers leaves
    ``[index << level, (index + 1) << level)``.
    """

    begin: int = 0
    end: int = 0
    nodes: list[tuple[int, int, bytes]] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        """Add the next leaf hash."""
        self._push(0, self.end, leaf)
        self.end += 1

    def extend(self, other: "CompactRange") -> None:
        """Add the range that starts where this one ends."""
        if other.begin != self.end:
            raise ValueError(f"ranges are not adjacent: {self.end} then {other.begin}")
        for level, index, digest in other.nodes:
            self._push(level, index, digest)
        self.end = other.end

    def _push(self, level: int, index: int, digest: bytes) -> None:
        nodes = self.nodes
        # Merge while the new node is a right child whose left sibling is the last node held.
        while index & 1 and nodes and nodes[-1][0] == level and nodes[-1][1] == index - 1:
            _, _, left = nodes.pop()
            digest = node_hash(left, digest)
            level, index = level + 1, index >> 1
        nodes.append((level, index, digest))

    def root(self) -> bytes:
        """The RFC 9162 root of the tree of size ``end`` (only for ranges starting at 0)."""
        if self.begin != 0:
            raise ValueError("only a range starting at leaf 0 has a root")
        if not self.nodes:
            return EMPTY_ROOT
        digest = self.nodes[-1][2]
        for _, _, left in reversed(self.nodes[:-1]):
            digest = node_hash(left, digest)
        return digest

    def hashes(self) -> list[bytes]:
        """The node hashes, left to right (their levels follow from ``begin`` and ``end``)."""
        return [digest for _, _, digest in self.nodes]

    @classmethod
    def from_frontier(cls, size: int, hashes: list[bytes]) -> "CompactRange":
        """The range ``[0, size)`` from its stored node hashes."""
        shape = _frontier_shape(size)
        if len(shape) != len(hashes):
            raise ValueError(f"a tree of {size} leaves has {len(shape)} frontier nodes, "
                             f"not {len(hashes)}")
        return cls(0, size, [(lvl, idx, h) for (lvl, idx), h in zip(shape, hashes)])


def _frontier_shape(size: int) -> list[tuple[int, int]]:
    """(level, index) of the perfect subtrees covering ``[0, size)``, left to right."""
    shape, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            shape.append((level, start >> level))
            start += 1 << level
    return shape
