#!/usr/bin/env python3
"""Verify a signed request with an independent implementation of RFC 9421 (the
`http-message-signatures` library), under Purser's Web Bot Auth profile.

    verify_request.py REQUEST_JSON        (or - for standard input)

REQUEST_JSON is {"method", "url", "headers": {name: value}, "body": "<text>" | null,
"public_jwk": {"kty": "OKP", "crv": "Ed25519", "x": ...}}, as printed by
`cargo run -p purser-agent --example interop_sign` and by `sign_request.py --print-headers`.

The signature must carry tag="web-bot-auth", be made by the JWK's key (keyid = its RFC 7638
thumbprint), cover "@method" "@authority" "@path" ("@query" when the URL has one,
"content-digest" when there is a body, checked against the body), have created and expires
no more than 8 minutes apart, a nonce, and be fresh (60 s clock skew allowed).

Exit 0 and "valid: ..." when it verifies; exit 1 and "invalid: <why>" when it does not;
exit 2 when the file cannot be read.
"""

import argparse
import datetime
import json
import sys
import urllib.parse

import okp_jwk
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageVerifier,
    MappingKeyResolver,
    algorithms,
)

#: purser_core::httpsig::MAX_SIGNATURE_WINDOW_SECS and CLOCK_SKEW_SECS.
MAX_WINDOW_SECS = 8 * 60
CLOCK_SKEW_SECS = 60
TAG = "web-bot-auth"


class Request:
    def __init__(self, method: str, url: str, headers: dict):
        self.method = method
        self.url = url
        self.headers = headers


class PurserVerifier(HTTPMessageVerifier):
    max_clock_skew = datetime.timedelta(seconds=CLOCK_SKEW_SECS)


def load(path):
    try:
        if path == "-":
            doc = json.load(sys.stdin)
        else:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        method, url, headers = doc["method"], doc["url"], doc["headers"]
        body = doc.get("body")
        jwk = doc["public_jwk"]
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValueError('"headers" must be an object of strings')
        if body is not None and not isinstance(body, str):
            raise ValueError('"body" must be a string or null')
        return method, url, headers, None if body is None else body.encode("utf-8"), jwk
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"verify_request.py: cannot read {path}: {e!r}", file=sys.stderr)
        sys.exit(2)


def verify(method, url, headers, body, jwk):
    """Returns the library's VerifyResult; raises HTTPMessageSignaturesException (or
    okp_jwk.KeyError_) with the reason otherwise."""
    key_id = okp_jwk.thumbprint(jwk)
    resolver = MappingKeyResolver(public_keys={key_id: okp_jwk.public_key(jwk)}, private_keys={})
    verifier = PurserVerifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    required = ["@method", "@authority", "@path"]
    if urllib.parse.urlsplit(url).query:
        required.append("@query")
    if body:
        required.append("content-digest")
    results = verifier.verify(
        Request(method, url, headers),
        max_age=datetime.timedelta(seconds=MAX_WINDOW_SECS),
        expect_tag=TAG,
        require_components=required,
        # With the body, the library checks the covered Content-Digest against it.
        body=body,
    )
    if len(results) != 1:
        raise HTTPMessageSignaturesException(f"expected one web-bot-auth signature, found {len(results)}")
    result = results[0]
    params = result.parameters
    for name in ("created", "expires", "nonce", "keyid"):
        if name not in params:
            raise HTTPMessageSignaturesException(f'the signature has no "{name}" parameter')
    if params["keyid"] != key_id:
        raise HTTPMessageSignaturesException(f"keyid {params['keyid']!r} is not the JWK thumbprint {key_id!r}")
    window = params["expires"] - params["created"]
    if not 0 < window <= MAX_WINDOW_SECS:
        raise HTTPMessageSignaturesException(f"expires - created is {window} s; Purser accepts 1 to {MAX_WINDOW_SECS}")
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("request_json", help="the signed request as JSON, or - for standard input")
    args = p.parse_args(argv)
    method, url, headers, body, jwk = load(args.request_json)
    try:
        result = verify(method, url, headers, body, jwk)
    except (HTTPMessageSignaturesException, okp_jwk.KeyError_) as e:
        reason = str(e) or "the Ed25519 signature does not verify over this request with this key"
        if reason == "Unable to resolve verification key":
            reason += " (the signature's keyid is not the thumbprint of public_jwk)"
        print(f"invalid: {reason}")
        return 1
    covered = " ".join(k for k in result.covered_components if k != '"@signature-params"')
    p = result.parameters
    print(
        f"valid: label={result.label} keyid={p['keyid']} tag={p.get('tag')} alg={p.get('alg')} "
        f"created={p['created']} expires={p['expires']} nonce={p['nonce']} covered={covered}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
