"""The audit signing key: an Ed25519 key the archive never holds, that signs the checkpoints of the event chains.

Where it is found, first match wins:

1. ``$GODEL_AUDIT_KEY``: the private key itself (PEM, or base64 of its 32-byte seed), for machines whose secrets
   come from the environment;
2. the file named by ``path`` (a setting) or by ``$GODEL_AUDIT_KEY_FILE``;
3. ``$XDG_CONFIG_HOME/godel/audit-key.pem`` (``~/.config/godel/audit-key.pem``).

When none exists, :func:`load_audit_key` creates the file (mode 0600) and warns, with :class:`AuditKeyCreated`, where
it is kept. Verifying needs only the public key (:func:`load_public_key`), so an exported trail can be checked on
another machine that never sees the private key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from godel.errors import GuardError

__all__ = [
    "KEY_ENV",
    "KEY_FILE_ENV",
    "AuditKey",
    "AuditKeyCreated",
    "PublicKey",
    "default_key_path",
    "find_audit_key",
    "load_audit_key",
    "load_public_key",
]

KEY_ENV = "GODEL_AUDIT_KEY"
KEY_FILE_ENV = "GODEL_AUDIT_KEY_FILE"


class AuditKeyCreated(UserWarning):
    """A new audit signing key was generated; the message says where it is kept."""


class PublicKey:
    """The public half of an audit key: checks signatures; ``key_id`` (SHA-256 of the raw key) names it."""

    def __init__(self, key: Ed25519PublicKey, source: str) -> None:
        self._key = key
        self.source = source
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()

    def verify(self, message: bytes, signature: str) -> bool:
        try:
            self._key.verify(bytes.fromhex(signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True

    def pem(self) -> str:
        return self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def __repr__(self) -> str:
        return f"PublicKey({self.key_id[:16]}, from {self.source})"


class AuditKey:
    """The private audit key: signs checkpoints. ``source`` says where it is kept; ``created`` that it is new."""

    def __init__(self, key: Ed25519PrivateKey, source: str, *, created: bool = False) -> None:
        self._key = key
        self.source = source
        self.created = created
        self.public = PublicKey(key.public_key(), source)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def __repr__(self) -> str:
        return f"AuditKey({self.key_id[:16]}, kept in {self.source})"


def default_key_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(KEY_FILE_ENV):
        return Path(env[KEY_FILE_ENV]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "godel" / "audit-key.pem"


def _private_from_text(text: str, where: str) -> Ed25519PrivateKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"a {type(key).__name__}, not an Ed25519 key")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise GuardError(
            f"{where} does not hold an Ed25519 private key ({exc})",
            hint="give a PEM private key (as `godel audit key` writes) or the base64 of a 32-byte seed",
        ) from exc


def _read_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise GuardError(
            f"cannot read the audit key {path}: {exc}",
            hint=f"make it readable by this user, or point ${KEY_FILE_ENV} at the key",
        ) from exc
    return _private_from_text(text, f"the audit key file {path}")


def find_audit_key(*, path: Path | None = None, env: Mapping[str, str] | None = None) -> AuditKey | None:
    """The audit key if one is configured or kept at the default place; never creates one."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV):
        return AuditKey(_private_from_text(env[KEY_ENV], f"${KEY_ENV}"), f"${KEY_ENV}")
    where = path if path is not None else default_key_path(env)
    if not where.exists():
        return None
    return AuditKey(_read_key_file(where), str(where))


def load_audit_key(*, path: Path | None = None, env: Mapping[str, str] | None = None) -> AuditKey:
    """The audit key (see the module doc for where it is looked for), created with a warning when there is none."""
    found = find_audit_key(path=path, env=env)
    if found is not None:
        return found
    where = path if path is not None else default_key_path(env)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        where.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # O_EXCL: of two processes creating the key at once, one writes it and the other reads that one.
        fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return AuditKey(_read_key_file(where), str(where))
    except OSError as exc:
        raise GuardError(
            f"cannot create the audit signing key {where}: {exc}",
            hint=f"set ${KEY_FILE_ENV} to a writable path, or ${KEY_ENV} to a key",
        ) from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    made = AuditKey(key, str(where), created=True)
    warnings.warn(
        AuditKeyCreated(
            f"created a new audit signing key {where} (Ed25519, id {made.key_id[:16]}); it signs this machine's "
            "audit checkpoints. Keep it private and off the archive's storage (whoever can write both can rewrite "
            "the trail), back it up, and give verifiers its public key: godel audit key --public --out "
            "audit-key.pub"
        ),
        stacklevel=2,
    )
    return made


def load_public_key(path: Path) -> PublicKey:
    """A public key from a file: PEM (``godel audit key --public``), the base64 of its 32 raw bytes, or a private
    key file (its public half)."""
    try:
        text = path.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise GuardError(
            f"cannot read the public key {path}: {exc}",
            hint="pass the file `godel audit key --public --out FILE` wrote where the trail was signed",
        ) from exc
    try:
        if "PRIVATE KEY" in text:
            return AuditKey(_private_from_text(text, str(path)), str(path)).public
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"a {type(key).__name__}, not an Ed25519 key")
            return PublicKey(key, str(path))
        return PublicKey(Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True)), str(path))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise GuardError(
            f"{path} does not hold an Ed25519 public key ({exc})",
            hint="pass the file `godel audit key --public --out FILE` wrote where the trail was signed",
        ) from exc
