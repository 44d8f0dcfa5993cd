#!/usr/bin/env python3
"""Sign an HTTP request as a Purser agent with an independent implementation of RFC 9421
(the `http-message-signatures` library), then send it or print it.

    sign_request.py --key AGENT_JWK [options] METHOD URL

The signature follows Purser's Web Bot Auth profile: it covers "@method" "@authority" "@path"
("@query" when the URL has one) ("content-digest" when there is a body) ("idempotency-key"
with --idempotency-key), with parameters created, expires, keyid (the key's RFC 7638
thumbprint), nonce, tag="web-bot-auth" and alg="ed25519".

Output and exit codes:
  sent (default)   prints the HTTP status on the first line and the response body after it;
                   exit 0 whenever the server answered, whatever the status
  --print-headers  prints {"method", "url", "headers", "body", "public_jwk"} as JSON (what
                   verify_request.py reads) and sends nothing; exit 0
  exit 2           bad arguments, key or body; exit 3: no answer (connection refused, timeout)
"""

import argparse
import base64
import datetime
import hashlib
import json
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

import okp_jwk
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    MappingKeyResolver,
    algorithms,
)

#: Purser's default signature lifetime (purser_core::httpsig::DEFAULT_SIGNATURE_LIFETIME_SECS).
DEFAULT_LIFETIME_SECS = 300


class Request:
    """The message shape the library reads: method, absolute url, and a header mapping."""

    def __init__(self, method: str, url: str, headers: dict):
        self.method = method
        self.url = url
        self.headers = headers


def content_digest(body: bytes) -> str:
    """RFC 9530 Content-Digest with sha-256: a Structured Field Dictionary, byte sequence."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("method", help="GET, POST, ... (upper case)")
    p.add_argument("url", help="absolute URL, e.g. http://127.0.0.1:7420/v1/agent/whoami")
    p.add_argument("--key", required=True, help="file with the agent's private OKP Ed25519 JWK (with \"d\")")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", help="JSON body, sent byte for byte as given")
    body.add_argument("--body-file", help="file holding the JSON body")
    p.add_argument("--nonce", help="nonce parameter (default: 32 random bytes, base64url)")
    p.add_argument("--created", type=int, help="created, seconds since 1970 (default: now)")
    p.add_argument("--expires", type=int, help=f"expires, seconds since 1970 (default: created + {DEFAULT_LIFETIME_SECS})")
    p.add_argument("--tag", default="web-bot-auth", help="tag parameter (default: web-bot-auth)")
    p.add_argument("--label", default="sig1", help="signature label (default: sig1)")
    p.add_argument("--idempotency-key", help="send this Idempotency-Key and cover it in the signature")
    p.add_argument(
        "--header", action="append", default=[], metavar="'NAME: VALUE'", help="an extra header, not covered (repeatable)"
    )
    p.add_argument("--print-headers", action="store_true", help="print the signed request as JSON instead of sending it")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the answer (default: 30)")
    return p.parse_args(argv)


def fail(message: str, code: int = 2):
    print(f"sign_request.py: {message}", file=sys.stderr)
    sys.exit(code)


def sign(args):
    """Returns (url, headers, body bytes or None, public JWK)."""
    try:
        with open(args.key, encoding="utf-8") as f:
            jwk = json.load(f)
        private = okp_jwk.private_key(jwk)
    except (OSError, ValueError, okp_jwk.KeyError_) as e:
        fail(f"cannot use the key in {args.key}: {e}")
    public = okp_jwk.public_jwk(private.public_key())
    key_id = okp_jwk.thumbprint(public)

    body = None
    if args.body is not None:
        body = args.body.encode("utf-8")
    elif args.body_file is not None:
        try:
            with open(args.body_file, "rb") as f:
                body = f.read()
        except OSError as e:
            fail(f"cannot read {args.body_file}: {e}")
    if body is not None:
        try:
            json.loads(body.decode("utf-8"))
        except ValueError as e:
            fail(f"the body is not JSON: {e}")
        if not body:
            body = None

    # A URL ending in a bare "?" goes on the wire without it; sign what is sent.
    url = args.url[:-1] if args.url.endswith("?") else args.url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"{args.url!r} is not an absolute http(s) URL")

    headers = {"Host": parts.netloc.rpartition("@")[2]}
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            fail(f"--header {h!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    covered = ["@method", "@authority", "@path"]
    if parts.query:
        covered.append("@query")
    if body is not None:
        headers["Content-Type"] = "application/json"
        headers["Content-Digest"] = content_digest(body)
        covered.append("content-digest")
    if args.idempotency_key is not None:
        headers["Idempotency-Key"] = args.idempotency_key
        covered.append("idempotency-key")

    created = args.created if args.created is not None else int(datetime.datetime.now(datetime.timezone.utc).timestamp())
    expires = args.expires if args.expires is not None else created + DEFAULT_LIFETIME_SECS
    utc = datetime.timezone.utc
    request = Request(args.method, url, headers)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: private}),
    )
    try:
        signer.sign(
            request,
            key_id=key_id,
            created=datetime.datetime.fromtimestamp(created, tz=utc),
            expires=datetime.datetime.fromtimestamp(expires, tz=utc),
            nonce=args.nonce if args.nonce is not None else secrets.token_urlsafe(32),
            label=args.label,
            tag=args.tag,
            include_alg=True,
            covered_component_ids=covered,
            # The library checks our Content-Digest against the body before covering it.
            body=body,
            use_existing_digest=body is not None,
        )
    except HTTPMessageSignaturesException as e:
        fail(f"signing failed: {e}")
    return url, request.headers, body, public


def send(method, url, headers, body, timeout):
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        fail(f"no answer from {url}: {getattr(e, 'reason', e)}", code=3)


def main(argv=None):
    args = parse_args(argv)
    url, headers, body, public = sign(args)
    if args.print_headers:
        out = {
            "method": args.method,
            "url": url,
            "headers": dict(headers),
            "body": None if body is None else body.decode("utf-8"),
            "public_jwk": public,
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    status, answer = send(args.method, url, headers, body, args.timeout)
    print(status)
    print(answer.decode("utf-8", errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
