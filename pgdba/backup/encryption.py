"""Optional client-side encryption with `age` (https://age-encryption.org): the dump is encrypted as it
streams (pg_dump | age -r RECIPIENT), so the store only ever holds ciphertext, and decrypted as it is read
back (age -d -i IDENTITY | pg_restore). The manifest's sha256 is of the stored (encrypted) bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pgdba.errors import InputError, NotAvailable

AGE = "age"


def age_binary() -> str:
    found = shutil.which("age")
    if not found:
        raise NotAvailable("client-side encryption needs the age tool: apt-get install age")
    return found


def age_recipients(given: list[str] | None) -> list[str]:
    """--age-recipient values, else PGDBA_BACKUP_AGE_RECIPIENT (comma-separated); empty = no encryption."""
    if given:
        return given
    env = os.environ.get("PGDBA_BACKUP_AGE_RECIPIENT", "")
    return [r.strip() for r in env.split(",") if r.strip()]


def age_identity(given: Path | None) -> Path | None:
    """--age-identity, else PGDBA_BACKUP_AGE_IDENTITY."""
    if given:
        return given
    env = os.environ.get("PGDBA_BACKUP_AGE_IDENTITY")
    return Path(env) if env else None


def encrypt_argv(recipients: list[str]) -> list[str]:
    argv = [age_binary(), "--encrypt"]
    for recipient in recipients:
        argv += ["--recipient", recipient]
    return argv


def check_recipients(recipients: list[str]) -> None:
    """Let age itself judge the public keys (age1…, ssh-…) by encrypting nothing, before any dump starts."""
    out = subprocess.run(encrypt_argv(recipients), input=b"", capture_output=True)
    if out.returncode != 0:
        raise InputError(f"--age-recipient: {_age_error(out.stderr)}")


def _age_error(stderr: bytes) -> str:
    """age's first error line, without its 'age: error: ' prefix."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    first = lines[0] if lines else "age failed without a message"
    return first.removeprefix("age: ").removeprefix("error: ")


def unused_identity_note(backup: str, encryption: str | None, identity: Path | None) -> str | None:
    """A note when an age identity was given for a backup that is not encrypted (it is not used)."""
    if identity is None or encryption == "age":
        return None
    return f"note: backup {backup} is not encrypted: the age identity {identity} is not used"


class NoAgeIdentity(InputError):
    """An encrypted backup and no identity given: its key is not on this machine (not a mistyped path)."""


def decrypt_argv(identity: Path | None) -> list[str]:
    if identity is None:
        raise NoAgeIdentity(
            "this backup is encrypted with age: pass --age-identity FILE (or PGDBA_BACKUP_AGE_IDENTITY)"
        )
    if not identity.is_file():
        raise InputError(f"age identity file {identity} does not exist")
    return [age_binary(), "--decrypt", "--identity", str(identity)]


def encrypt_bytes(data: bytes, recipients: list[str]) -> bytes:
    out = subprocess.run(encrypt_argv(recipients), input=data, capture_output=True)
    if out.returncode != 0:
        raise InputError(f"age cannot encrypt: {_age_error(out.stderr)}")
    return out.stdout
