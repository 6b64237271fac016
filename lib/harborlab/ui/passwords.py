"""Harbor 1.2's stored passwords: how they are made and how a login is checked.

Written from Harbor v1.2.0:

- ``src/common/utils/encrypt.go`` ``Encrypt(content, salt)``:
  ``fmt.Sprintf("%x", pbkdf2.Key([]byte(content), []byte(salt), 4096, 16, sha1.New))``.
- ``src/common/utils/utils.go`` ``GenerateRandomString()``: 32 bytes from crypto/rand, each
  mapped to ``"abcdefghijklmnopqrstuvwxyz0123456789"[b % 36]`` (the modulo bias included).
- ``src/common/dao/user.go`` ``LoginByDb``: the first non-deleted user whose username or email
  is the principal; the login holds when ``user.Password == utils.Encrypt(password, user.Salt)``,
  a plain string comparison (no trimming, no case folding, an empty salt is just a salt).
"""

from __future__ import annotations

import hashlib
import secrets

ITERATIONS = 4096
KEY_LENGTH = 16
SALT_LENGTH = 32
SALT_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def encrypt(content: str, salt: str) -> str:
    """``utils.Encrypt``: lowercase hex of PBKDF2-HMAC-SHA1 (Go strings are their UTF-8 bytes)."""
    key = hashlib.pbkdf2_hmac("sha1", content.encode("utf-8"), salt.encode("utf-8"), ITERATIONS, KEY_LENGTH)
    return key.hex()


def random_salt() -> str:
    """``utils.GenerateRandomString``."""
    return "".join(SALT_CHARS[b % len(SALT_CHARS)] for b in secrets.token_bytes(SALT_LENGTH))


def login_matches(stored: str, password: str, salt: str) -> bool:
    """``LoginByDb``'s test of one user row (``!=`` in Go: a plain comparison, as here)."""
    return stored == encrypt(password, salt)


__all__ = ["encrypt", "login_matches", "random_salt"]
