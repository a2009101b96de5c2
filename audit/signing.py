"""Ed25519 keys for signing checkpoints: the private key lives in a file, never in the database.

``AUDIT_SIGNING_KEY`` names the private key (PKCS#8 PEM); its public half sits next to it as
``<path>.pub`` (SubjectPublicKeyInfo PEM), which is what an outside party is given.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SigningKeyError(RuntimeError):
    """The signing or verification key is missing or unusable; the message names the file."""


def public_path(private_path: str | os.PathLike) -> Path:
    """Where the public half of a private key file is kept."""
    return Path(str(private_path) + ".pub")


def generate_key(path: str | os.PathLike, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new private key to ``path`` (mode 0600) and its public key to ``path.pub``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise SigningKeyError(f"{path} exists; refusing to replace a signing key")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    pub = public_path(path)
    pub.write_bytes(public_pem(key.public_key()))
    return path, pub


def ensure_key(path: str | os.PathLike) -> Path:
    """A development key at ``path``: created (with its ``.pub``) unless it already exists."""
    path = Path(path)
    if not path.exists():
        generate_key(path)
    return path


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: str | os.PathLike | None) -> Ed25519PrivateKey:
    """The signing key at ``path``."""
    if not path:
        raise SigningKeyError("AUDIT_SIGNING_KEY is not set: point it at an Ed25519 private key "
                              "(`flask audit keygen PATH` makes one)")
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise SigningKeyError(f"cannot read the audit signing key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: str | os.PathLike) -> Ed25519PublicKey:
    """A public key from a ``.pub`` file, or the public half of a private key file."""
    data = _read(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        except ValueError as exc:
            raise SigningKeyError(f"{path} holds no PEM key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 key")
    return key


def _read(path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read {path}: {exc}") from exc


def key_id(key: Ed25519PublicKey) -> str:
    """A short fingerprint naming the key in a checkpoint: the first 8 bytes of SHA-256, hex."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def verify(key: Ed25519PublicKey, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is ``key``'s signature of ``message``."""
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True
