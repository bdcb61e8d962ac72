"""Password hashes as Odoo 18 stores them in `res_users.password` (stand-in; standard library only).

Odoo 18 hashes with passlib's `CryptContext(['pbkdf2_sha512', 'plaintext'], deprecated=['plaintext'])` and
at least 600 000 rounds (`odoo/addons/base/models/res_users.py`, MIN_ROUNDS). passlib's pbkdf2_sha512 string is
`$pbkdf2-sha512$<rounds>$<salt>$<checksum>`: a 16-byte salt and the 64-byte PBKDF2-HMAC-SHA512 digest, both in
passlib's "ab64" alphabet (standard base64 with `.` for `+`, no padding). hashlib computes the same digest, so
a hash written here verifies in real Odoo and a hash written by real Odoo (or by passlib) verifies here.

"plaintext" is the deprecated scheme: a value without the `$pbkdf2-sha512$` prefix is compared as it is and,
when it matches, replaced by a hash (passlib's `verify_and_update`, which Odoo calls at every login). That is
why writing a plain password with SQL works in real Odoo too; writing the hash is the better way (no secret
at rest, not even briefly).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME_PREFIX = "$pbkdf2-sha512$"
MIN_ROUNDS = 600_000  # Odoo 18's floor (`password.hashing.rounds` may only raise it)
SALT_BYTES = 16


def _ab64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=").replace("+", ".")


def _ab64_decode(text: str) -> bytes:
    text = text.replace(".", "+")
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, rounds: int = MIN_ROUNDS, salt: bytes | None = None) -> str:
    """The passlib pbkdf2_sha512 string for `password`."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, rounds)
    return f"{SCHEME_PREFIX}{rounds}${_ab64_encode(salt)}${_ab64_encode(digest)}"


def is_hashed(stored: str | None) -> bool:
    """True for a value Odoo's `res_users.init` would leave alone (what its SQL `'^\\$[^$]+\\$[^$]+\\$.'` matches)."""
    parts = (stored or "").split("$")
    return len(parts) >= 4 and parts[0] == "" and bool(parts[1]) and bool(parts[2]) and bool(parts[3])


def verify(password: str, stored: str | None) -> bool:
    """passlib's `verify` over Odoo's two schemes; an empty stored value never matches (no password set)."""
    if not stored or not password:
        return False
    if stored.startswith(SCHEME_PREFIX):
        try:
            rounds_text, salt_text, digest_text = stored[len(SCHEME_PREFIX) :].split("$")
            rounds = int(rounds_text)
            salt, expected = _ab64_decode(salt_text), _ab64_decode(digest_text)
        except ValueError:
            return False
        if rounds < 1:
            return False
        got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, rounds, dklen=len(expected))
        return hmac.compare_digest(got, expected)
    if is_hashed(stored):
        return False  # another scheme (Odoo's context knows only these two): no match
    return hmac.compare_digest(password.encode("utf-8"), stored.encode("utf-8"))


def verify_and_update(password: str, stored: str | None) -> tuple[bool, str | None]:
    """passlib's `verify_and_update`: (matches, replacement hash or None). A plaintext or too-weak hash that
    matches is replaced, so the next login reads a current hash."""
    if not verify(password, stored):
        return False, None
    assert stored is not None  # verify() is False for None
    if not stored.startswith(SCHEME_PREFIX):
        return True, hash_password(password)
    rounds = int(stored[len(SCHEME_PREFIX) :].split("$", 1)[0])
    return True, (hash_password(password) if rounds < MIN_ROUNDS else None)
