"""RFC 9162 Merkle trees against the published Certificate Transparency test vectors.

Vectors: transparency-dev/merkle ``testonly/constants.go`` (leaf inputs, node hashes, roots for
0..8 leaves, compact ranges) and certificate-transparency-go ``merkletree/merkle_verifier_test.go``
(inclusion and consistency proofs).
"""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from audit import merkle

h = bytes.fromhex

LEAF_INPUTS = [h(""), h("00"), h("10"), h("2021"), h("3031"), h("40414243"),
               h("5051525354555657"), h("606162636465666768696a6b6c6d6e6f")]
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
NODES = [
    [h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
     h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
     h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
     h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
     h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
     h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
     h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
     h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1")],
    [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
     h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
     h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
     h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0")],
    [h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
     h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]
# The compact range of the first n leaves, as (level, index) into NODES.
COMPACT = [[], [(0, 0)], [(1, 0)], [(1, 0), (0, 2)], [(2, 0)], [(2, 0), (0, 4)],
           [(2, 0), (1, 2)], [(2, 0), (1, 2), (0, 6)], [(3, 0)]]
# (leaf index, tree size, proof) from merkle_verifier_test.go (its indices are 1-based).
INCLUSION = [
    (0, 8, [NODES[0][1], NODES[1][1], NODES[2][1]]),
    (5, 8, [NODES[0][4], NODES[1][3], NODES[2][0]]),
    (2, 3, [NODES[1][0]]),
    (1, 5, [NODES[0][0], NODES[1][1], NODES[0][4]]),
]
CONSISTENCY = [
    (1, 1, []),
    (1, 8, [NODES[0][1], NODES[1][1], NODES[2][1]]),
    (6, 8, [NODES[1][2], NODES[1][3], NODES[2][0]]),
    (2, 5, [NODES[1][1], NODES[0][4]]),
]
LEAVES = [merkle.leaf_hash(d) for d in LEAF_INPUTS]


def test_rfc6962_hasher_vectors():
    assert merkle.EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert merkle.leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert merkle.node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


@pytest.mark.parametrize("size", range(9))
def test_root_of_the_first_leaves_matches_the_published_root(size):
    assert merkle.root(LEAVES[:size]) == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_compact_range_built_leaf_by_leaf_has_the_published_nodes_and_root(size):
    rng = merkle.CompactRange()
    for leaf in LEAVES[:size]:
        rng.append(leaf)
    assert rng.hashes() == [NODES[level][index] for level, index in COMPACT[size]]
    assert rng.root() == ROOTS[size]
    assert merkle.CompactRange.from_frontier(size, rng.hashes()).root() == ROOTS[size]


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_inclusion_proofs_match_the_published_ones_and_verify(index, size, proof):
    assert merkle.inclusion_proof(LEAVES[:size], index) == proof
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_inclusion_proof_fails_for_a_wrong_leaf_index_size_or_path(index, size, proof):
    root = ROOTS[size]
    assert not merkle.verify_inclusion(LEAVES[index], index ^ 1, size, proof, root)
    assert not merkle.verify_inclusion(LEAVES[index], index, size * 2, proof, root)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"WrongLeaf"), index, size, proof, root)
    assert not merkle.verify_inclusion(LEAVES[index], index, size, proof + [root], root)
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = merkle.EMPTY_ROOT
        assert not merkle.verify_inclusion(LEAVES[index], index, size, bad, root)


@pytest.mark.parametrize("first,second,proof", CONSISTENCY)
def test_consistency_proofs_match_the_published_ones_and_verify(first, second, proof):
    assert merkle.consistency_proof(LEAVES[:second], first) == proof
    assert merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof)


@pytest.mark.parametrize("first,second,proof", CONSISTENCY[1:])
def test_consistency_proof_fails_for_swapped_roots_or_a_changed_path(first, second, proof):
    assert not merkle.verify_consistency(first, second, ROOTS[second], ROOTS[first], proof)
    assert not merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], proof[:-1])
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = merkle.EMPTY_ROOT
        assert not merkle.verify_consistency(first, second, ROOTS[first], ROOTS[second], bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 70), st.lists(st.integers(0, 70), max_size=5))
def test_ranges_joined_at_any_cut_give_the_root_of_the_whole(size, cuts):
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(size)]
    bounds = sorted({0, size, *(c for c in cuts if c <= size)})
    tree = merkle.CompactRange()
    for lo, hi in zip(bounds, bounds[1:]):
        part = merkle.CompactRange(lo, lo)
        for leaf in leaves[lo:hi]:
            part.append(leaf)
        tree.extend(part)
    assert tree.end == size
    assert tree.root() == merkle.root(leaves)


def test_ranges_that_do_not_touch_cannot_be_joined():
    with pytest.raises(ValueError):
        merkle.CompactRange(0, 3).extend(merkle.CompactRange(4, 4))
