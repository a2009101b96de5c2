"""Ed25519 checkpoint signing and the exported JSON, without a database."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from audit import signing
from audit.checkpoints import (Checkpoint, CheckpointFormatError, SignedCheckpoint, export_json,
                               import_json)


def sample(key) -> SignedCheckpoint:
    cp = Checkpoint(log_id="6f1c1c2e-0000-4000-8000-000000000001", id=3,
                    created_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
                    tree_size=5, root_hash=bytes(range(32)),
                    key_id=signing.key_id(key.public_key()),
                    chain_seqs=(2, 0, 3), chain_heads=(b"\x01" * 32, bytes(32), b"\x02" * 32))
    return SignedCheckpoint(cp, signing.sign(key, cp.body().encode()))


def test_generated_key_files_load_and_the_private_one_is_private(key_path):
    assert key_path.stat().st_mode & 0o077 == 0
    public = signing.load_public_key(signing.public_path(key_path))
    assert signing.key_id(public) == signing.key_id(signing.load_private_key(key_path).public_key())


def test_an_existing_key_is_not_overwritten(key_path):
    with pytest.raises(signing.SigningKeyError):
        signing.generate_key(key_path)
    assert signing.ensure_key(key_path) == key_path


def test_a_missing_key_setting_names_the_variable():
    with pytest.raises(signing.SigningKeyError, match="AUDIT_SIGNING_KEY"):
        signing.load_private_key(None)


def test_the_body_is_the_signed_text_and_parses_back(private_key):
    signed = sample(private_key)
    body = signed.checkpoint.body()
    assert body.splitlines()[:3] == ["qorgau audit checkpoint v1",
                                     "log 6f1c1c2e-0000-4000-8000-000000000001", "id 3"]
    assert Checkpoint.parse(body) == signed.checkpoint
    assert signed.verify(private_key.public_key())


def test_a_changed_body_or_another_key_does_not_verify(private_key, tmp_path):
    signed = sample(private_key)
    other, _ = signing.generate_key(tmp_path / "other.key")
    assert not signed.verify(signing.load_private_key(other).public_key())
    forged = SignedCheckpoint(Checkpoint.parse(signed.checkpoint.body().replace("size 5", "size 4")),
                              signed.signature)
    assert not forged.verify(private_key.public_key())


def test_export_round_trips_and_an_edited_field_is_refused(private_key):
    signed = sample(private_key)
    text = export_json(signed)
    assert import_json(text) == signed
    doc = json.loads(text)
    doc["root_hash"] = "00" * 32
    with pytest.raises(CheckpointFormatError, match="disagree"):
        import_json(json.dumps(doc))


def test_a_non_canonical_body_is_refused(private_key):
    body = sample(private_key).checkpoint.body()
    with pytest.raises(CheckpointFormatError):
        Checkpoint.parse(body.replace("size 5", "size 05"))
