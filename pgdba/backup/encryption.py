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


def decrypt_argv(identity: Path | None) -> list[str]:
    if identity is None:
        raise InputError(
            "this backup is encrypted with age: pass --age-identity FILE (or PGDBA_BACKUP_AGE_IDENTITY)"
        )
    if not identity.is_file():
        raise InputError(f"age identity file {identity} does not exist")
    return [age_binary(), "--decrypt", "--identity", str(identity)]


def encrypt_bytes(data: bytes, recipients: list[str]) -> bytes:
    out = subprocess.run(encrypt_argv(recipients), input=data, capture_output=True)
    if out.returncode != 0:
        raise InputError(f"age cannot encrypt: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout
