"""Encryption of provider API keys at rest.

Keys come from FIELD_ENCRYPTION_KEYS (never SECRET_KEY): the first one encrypts, all of
them decrypt, so a new key can be put first and `manage.py rotate_provider_keys` run to
re-encrypt every row before the old key is removed.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _fernet(secret: str) -> Fernet:
    # Any passphrase works: it is stretched to the 32 bytes Fernet needs.
    raw = hashlib.sha256(("upscaler-field-key:" + secret).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def _keyring() -> MultiFernet:
    return MultiFernet([_fernet(secret) for secret in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _keyring().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _keyring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ValueError(
            "A provider key cannot be decrypted with FIELD_ENCRYPTION_KEYS; was a key removed "
            "before rotation finished?"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt with the first (newest) key."""
    return _keyring().rotate(token.encode()).decode() if token else token


def mask(plaintext: str) -> str:
    """What a page may show of a key: its last four characters at most."""
    if not plaintext:
        return ""
    return "••••" + plaintext[-4:] if len(plaintext) >= 12 else "••••"
