"""Ed25519 keys as JWKs (RFC 8037 OKP) and their RFC 7638 thumbprints, written from the RFCs
without Purser's code, for the interop scripts beside this file."""

import base64
import hashlib
import json

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519


class KeyError_(Exception):
    """A JWK that is not a usable Ed25519 key."""


def b64url_decode(text: str, name: str, length: int) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise KeyError_(f'"{name}" must be base64url without padding')
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError as e:
        raise KeyError_(f'"{name}" is not base64url: {e}') from e
    if len(raw) != length:
        raise KeyError_(f'"{name}" must decode to {length} bytes, not {len(raw)}')
    return raw


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _check_okp(jwk) -> None:
    if not isinstance(jwk, dict):
        raise KeyError_("a JWK is a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise KeyError_('expected {"kty": "OKP", "crv": "Ed25519", ...}')


def public_key(jwk) -> ed25519.Ed25519PublicKey:
    """The public key of an OKP Ed25519 JWK (private members, if any, are ignored)."""
    _check_okp(jwk)
    return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk.get("x"), "x", 32))


def private_key(jwk) -> ed25519.Ed25519PrivateKey:
    """The private key of an OKP Ed25519 JWK with "d"; "x" must match it."""
    _check_okp(jwk)
    if "d" not in jwk:
        raise KeyError_('a private JWK needs "d", the base64url private key')
    key = ed25519.Ed25519PrivateKey.from_private_bytes(b64url_decode(jwk["d"], "d", 32))
    derived = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if "x" in jwk and b64url_decode(jwk["x"], "x", 32) != derived:
        raise KeyError_('"x" is not the public key of "d"')
    return key


def public_jwk(key: ed25519.Ed25519PublicKey) -> dict:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def thumbprint(jwk) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace."""
    _check_okp(jwk)
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())
