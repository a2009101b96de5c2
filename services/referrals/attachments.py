"""Attachments of a referral: photos, scanned letters, notes. Never deleted or changed (a trigger
refuses it, migration 0004); a replacement supersedes the earlier file, which stays.

The type is decided by the file's first bytes, not by what the client declares: a file whose
content is not one of the accepted kinds is refused whatever its name or declared type says.
"""
from __future__ import annotations

import hashlib
import re

import audit
from audit import Actor, AuditAction
from services.errors import AccessDenied, InvalidTransition, NotFound, QorgauError, ValidationFailed
from services.referrals import queries

MAX_BYTES = 10 * 1024 * 1024
# (media type, short code for the audit trail, leading bytes); text is checked separately.
SIGNATURES = (("application/pdf", "pdf", b"%PDF-"),
              ("image/jpeg", "jpeg", b"\xff\xd8\xff"),
              ("image/png", "png", b"\x89PNG\r\n\x1a\n"))
TEXT = ("text/plain", "text")
ACCEPTED = tuple(t for t, _, _ in SIGNATURES) + (TEXT[0],)
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


class TooLarge(QorgauError):
    status = 413
    slug = "payload-too-large"
    title = "The file is too large"


class RefusedType(QorgauError):
    status = 415
    slug = "unsupported-media-type"
    title = "This kind of file is not accepted"


def detect_type(data: bytes) -> tuple[str, str] | None:
    """(media type, code) from the content, or None for anything not accepted."""
    for media_type, code, magic in SIGNATURES:
        if data.startswith(magic):
            return media_type, code
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return None
    return TEXT


def check_file(data: bytes, declared_type: str | None) -> tuple[str, str]:
    """The detected (media type, code) of an acceptable upload, or a 4xx naming ``file``."""
    if not data:
        raise ValidationFailed("The file is empty.", field="file")
    if len(data) > MAX_BYTES:
        raise TooLarge(f"An attachment may be at most {MAX_BYTES} bytes.", field="file",
                       limit_bytes=MAX_BYTES)
    detected = detect_type(data)
    if detected is None:
        raise RefusedType("Attach a PDF, JPEG, PNG or plain-text file.", field="file",
                          accepted=list(ACCEPTED))
    declared = (declared_type or "").split(";")[0].strip().lower()
    if declared not in ("", "application/octet-stream") and declared != detected[0]:
        raise RefusedType(f"The file is declared as {declared} but its content is {detected[0]}.",
                          field="file", accepted=list(ACCEPTED))
    return detected


def clean_filename(name: str | None) -> str:
    cleaned = _UNSAFE_NAME.sub("_", (name or "").strip())[-200:]
    return cleaned or "attachment"


def add_attachment(conn, row: dict, child_ids: list[int], *, actor: Actor, filename: str | None,
                   declared_type: str | None, data: bytes, supersedes_id: int | None) -> dict:
    """Attach a file to a referral the actor's agency filed (while it is a draft or being screened)."""
    if row["referring_agency_id"] != actor.agency_id:
        raise AccessDenied("Only the referring agency adds files to a referral.")
    if row["state"] not in ("draft", "submitted", "screening") or row["superseded_by_id"] is not None:
        raise InvalidTransition("Files are added to the current version while it is being screened.",
                                field="state", state=row["state"],
                                allowed_states=["draft", "submitted", "screening"])
    media_type, code = check_file(data, declared_type)
    if supersedes_id is not None:
        replaced = queries.attachment(conn, supersedes_id)
        chain = queries.version_chain(conn, row["id"])
        if replaced is None or replaced["referral_id"] not in chain or replaced["superseded_by_id"]:
            raise ValidationFailed("Name a current file of this referral to replace.", field="supersedes_id")
    digest = hashlib.sha256(data).hexdigest()
    attachment_id = queries.insert_attachment(conn, row["id"], filename=clean_filename(filename),
                                              content_type=media_type, data=data, sha256=digest,
                                              uploaded_by=actor.user_id, supersedes_id=supersedes_id)
    for action in [AuditAction.ATTACHMENT_ADDED] + ([AuditAction.ATTACHMENT_SUPERSEDED] if supersedes_id else []):
        audit.record(conn, actor=actor, action=action, object_type="attachment", object_id=attachment_id,
                     child_id=child_ids[0] if child_ids else None,
                     details={"referral_id": row["id"], "sha256": digest, "file_type": code,
                              "size_bytes": len(data), "supersedes_id": supersedes_id})
    return queries.attachment(conn, attachment_id)


def read_attachment(conn, row: dict, attachment_id: int, child_ids: list[int], *, actor: Actor) -> dict:
    """A file of a referral the actor may read (any of its versions); the download is audited."""
    found = queries.attachment(conn, attachment_id, with_data=True)
    if found is None or found["referral_id"] not in queries.version_chain(conn, row["id"]):
        raise NotFound("No such record, or it is not yours to see.")
    audit.record(conn, actor=actor, action=AuditAction.ATTACHMENT_VIEWED, object_type="attachment",
                 object_id=attachment_id, child_id=child_ids[0] if child_ids else None,
                 details={"referral_id": row["id"], "sha256": found["sha256"]})
    return found


def attachment_json(a: dict) -> dict:
    return {"id": a["id"], "referral_id": a["referral_id"], "filename": a["filename"],
            "content_type": a["content_type"], "size_bytes": a["size_bytes"], "sha256": a["sha256"],
            "created_at": a["created_at"].isoformat(), "supersedes_id": a["supersedes_id"],
            "superseded_by_id": a["superseded_by_id"]}


def listing(conn, referral_ids: list[int]) -> list[dict]:
    """The files of these versions of a referral, without their content."""
    return [attachment_json(a) for a in queries.attachments_of(conn, referral_ids)]
