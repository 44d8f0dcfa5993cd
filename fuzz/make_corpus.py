#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ from the real vectors and specs
(../shared/vectors, ../shared/specs) and the project's own test fixtures.

The corpus is committed, so CI and a fresh clone need neither this script nor ../shared; run it
again (from the repository root: `python3 fuzz/make_corpus.py`) after the vectors change. It
needs Python 3 and `cryptography` (to sign requests as an agent would, with the Web Bot Auth
vectors' Ed25519 key). Files it writes are named `seed-…`; files the fuzzer adds are left alone.
"""

import base64
import hashlib
import hmac
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
OUT = os.path.join(ROOT, "fuzz", "corpus")


def load(*path):
    with open(os.path.join(SHARED, *path), encoding="utf-8") as f:
        return json.load(f)


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, bytes):
        data = json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def b64(b):
    return base64.b64encode(b).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def digest(body):
    return "sha-256=:%s:" % b64(hashlib.sha256(body).digest())


# ---- HTTP message signatures -------------------------------------------------------------

WBA = load("vectors", "web-bot-auth", "web_bot_auth_architecture_v2.json")
WBA_V1 = load("vectors", "web-bot-auth", "web_bot_auth_architecture_v1.json")
ED_KEY = next(v["key"] for v in WBA if v["key"]["kty"] == "OKP")
ED_KEYID = next(v for v in WBA if v["key"]["kty"] == "OKP")["signature_input"].split('keyid="')[1].split('"')[0]
NOW = 1767225600  # 2026-01-01T00:00:00Z, the fuzz targets' default clock


def sign_request(method, authority, path, query, headers, body, created, extra=(), tag="web-bot-auth", label="sig1"):
    """Signs as Purser's SDK does (Web Bot Auth profile), with the vectors' Ed25519 key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pad = lambda s: s + "=" * (-len(s) % 4)
    key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(pad(ED_KEY["d"])))
    headers = list(headers)
    comps = [("@method", method), ("@authority", authority), ("@path", path or "/")]
    if query:
        comps.append(("@query", "?" + query))
    if body:
        headers.append(("Content-Digest", digest(body)))
        comps.append(("content-digest", digest(body)))
    for name in extra:
        comps.append((name, ", ".join(v for n, v in headers if n.lower() == name)))
    names = " ".join('"%s"' % n for n, _ in comps)
    params = '(%s);created=%d;expires=%d;keyid="%s";alg="ed25519";nonce="%s";tag="%s"' % (
        names, created, created + 300, ED_KEYID, b64(hashlib.sha256(path.encode()).digest()), tag)
    base = "".join('"%s": %s\n' % (n, v) for n, v in comps) + '"@signature-params": ' + params
    sig = key.sign(base.encode())
    headers.append(("Signature-Input", "%s=%s" % (label, params)))
    headers.append(("Signature", "%s=:%s:" % (label, b64(sig))))
    return headers


def http_text(method, target, scheme, now, headers, body):
    lines = ["%s %s %s %d" % (method, target, scheme, now)]
    lines += ["%s: %s" % (n, v) for n, v in headers]
    text = "\n".join(lines) + "\n"
    if body is not None:
        text += "\n" + body.decode("utf-8", "replace")
    return text


def httpsig():
    # The published Web Bot Auth vectors, as received (RSA ones fail at the algorithm check).
    for i, v in enumerate(WBA + WBA_V1):
        headers = [("Signature-Input", v["signature_input"]), ("Signature", v["signature"])]
        if "signature_agent" in v:
            headers.insert(0, ("Signature-Agent", v["signature_agent"]))
        text = http_text("GET", v["target_url"], "https", v["created_ms"] // 1000 + 10, headers, None)
        write("httpsig_request", "wba-%d-%s" % (i, v["key"]["kty"].lower()), text)
        write("httpsig_sign_verify", "wba-%d" % i, text)

    # Requests as Purser's agents send them, signed under Purser's policy.
    cases = [
        ("POST", "127.0.0.1:7420", "/v1/payments", None, [("Content-Type", "application/json")],
         b'{"mandate_id":"mdt_1","merchant":{"id":"mch_1"},"total":{"amount":45900,"currency":"CNY"}}', ()),
        ("GET", "purser.example", "/v1/payments/pay_123", "expand=items&x=1", [("Accept", "application/json")], None, ()),
        ("POST", "shop.example:8443", "/checkout_sessions/cs_1/complete", None,
         [("Signature-Agent", '"https://agent.example/.well-known/http-message-signatures-directory"'),
          ("Content-Type", "application/json")], b'{"payment_data":{"token":"pct_x"}}', ("signature-agent",)),
        ("DELETE", "purser.example", "/v1/agents/agt_1/keys/k1", None, [], None, ()),
        ("POST", "purser.example", "/mcp", None, [("Accept", "application/json, text/event-stream")],
         b'{"jsonrpc":"2.0","id":1,"method":"tools/list"}', ("accept",)),
    ]
    for i, (m, auth, path, q, hs, body, extra) in enumerate(cases):
        hs = [("Host", auth)] + hs
        signed = sign_request(m, auth, path, q, hs, body, NOW - 5, extra)
        target = path + ("?" + q if q else "")
        text = http_text(m, target, "https", NOW, signed, body)
        write("httpsig_request", "purser-%d" % i, text)
        write("httpsig_sign_verify", "purser-%d" % i, text)
    # Structured-field edge cases (RFC 8941) as Signature-Input values.
    for i, sfv in enumerate([
        'sig1=("@method"  "x";key="a" );created=1;b;c=?0;d=-1.50;e=tok;f=:AAE=:',
        'a=?0, b, c; foo=bar', 'rating=1.5, feelings=(joy sadness)', 'a=1, b=2, a=3',
        'en="Applepie", da=:w4ZibGV0w6ZydGU=:', 'sig1=();keyId="x"',
        'sig1=("@query-param";name="a" "@request-target" "@status" "@target-uri" "@scheme" "content-type";sf "x";bs "y";tr "z";req);created=1;expires=2',
    ]):
        text = http_text("POST", "/p?q=1", "https", NOW, [("Host", "h"), ("Signature-Input", sfv), ("Signature", "sig1=:AAAA:")], b"{}")
        write("httpsig_request", "sfv-%d" % i, text)


def content_digest():
    bodies = [b"", b'{"hello": "world"}', b"\x00\xff binary", "ünïcode ¥799".encode()]
    for i, body in enumerate(bodies):
        sha512 = "sha-512=:%s:" % b64(hashlib.sha512(body).digest())
        for j, header in enumerate([digest(body), sha512, digest(body) + ", " + sha512,
                                    "sha-256=:AAAA:", "md5=:AAAA:, sha-256=%s" % "x", 'sha-256="text"']):
            write("content_digest", "%d-%d" % (i, j), header.encode() + b"\n" + body)
    # RFC 9530's own example.
    write("content_digest", "rfc9530", b'sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:\n{"hello": "world"}\n')


def signature_agent_card():
    for v in load("vectors", "web-bot-auth", "web_bot_auth_signature_agent_card_v1.json"):
        write("signature_agent_card", "card-" + v["name"], "card %s\n%s" % (v["url"], json.dumps(v["card"])))
    for v in load("vectors", "web-bot-auth", "web_bot_auth_registry_v1.json"):
        write("signature_agent_card", "registry-" + v["name"], "registry\n" + v["registry_txt"])
    for v in load("vectors", "web-bot-auth", "web_bot_auth_signature_agent_v1.json"):
        write("signature_agent_card", "header-" + v["name"], "header\n" + v["header"])
    jwk = {k: v for k, v in ED_KEY.items() if k != "d"}
    write("signature_agent_card", "jwk-ed25519", "jwk\n" + json.dumps(jwk))


# ---- AP2 -----------------------------------------------------------------------------------

def ap2_chain():
    for v in load("vectors", "ap2", "delegate_sd_jwt_vectors.json")["vectors"]:
        write("ap2_chain", v["id"], v["compact_serialization"])


def ap2_issued():
    t0 = NOW
    merchant = {"id": "m-1", "name": "Acme Store"}
    checkout = {
        "id": "chk_1", "merchant": merchant, "status": "ready_for_complete", "currency": "USD",
        "line_items": [{"id": "li_0", "item": {"id": "sku-1", "title": "Item sku-1", "price": 1500}, "quantity": 2}],
        "totals": [{"type": "subtotal", "amount": 3000}, {"type": "total", "amount": 3000}],
    }
    checkout_constraints = [
        {"type": "checkout.allowed_merchants", "allowed": [merchant]},
        {"type": "checkout.line_items", "items": [{"id": "req-sku-1", "acceptable_items": [{"id": "sku-1", "title": "Item sku-1"}], "quantity": 2}]},
    ]
    closed_checkout = {"vct": "mandate.checkout.1", "checkout_jwt": "$checkout_jwt", "checkout_hash": "$checkout_hash"}
    write("ap2_issued", "checkout", {
        "open": {"vct": "mandate.checkout.open.1", "constraints": checkout_constraints},
        "open_claims": {"iat": t0, "exp": t0 + 3600},
        "hops": [{"mandate": closed_checkout, "disclosable": ["checkout_jwt"]}],
        "checkout": checkout,
    })
    payment_constraints = [
        {"type": "payment.amount_range", "currency": "USD", "min": 0, "max": 50000},
        {"type": "payment.allowed_payees", "allowed": [merchant]},
        {"type": "payment.allowed_payment_instruments", "allowed": [{"id": "pi-1", "type": "card"}]},
        {"type": "payment.budget", "max": 500.0, "currency": "USD"},
        {"type": "payment.execution_date", "not_before": "2025-01-01T00:00:00Z", "not_after": "2027-01-01T00:00:00Z"},
        {"type": "payment.agent_recurrence", "frequency": "MONTHLY", "max_occurrences": 3},
        {"type": "payment.reference", "conditional_transaction_id": "$open_hash"},
        {"type": "purser.interval_limit", "interval": "week", "max_amount": {"amount": 20000, "currency": "USD"}},
        {"type": "purser.future_thing", "x": 1},
    ]
    closed_payment = {
        "vct": "mandate.payment.1", "transaction_id": "$checkout_hash", "payee": merchant,
        "payment_amount": {"amount": 3000, "currency": "USD"},
        "payment_instrument": {"id": "pi-1", "type": "card", "description": "Card 4242"},
    }
    for i, c in enumerate(payment_constraints):
        write("ap2_issued", "payment-%d" % i, {
            "open": {"vct": "mandate.payment.open.1", "constraints": [c], "payee": merchant},
            "open_disclosable": ["payee"],
            "open_claims": {"iat": t0, "exp": t0 + 3600},
            "hops": [{"mandate": closed_payment, "binding": "issuer_jwt_hash" if i % 2 else "sd_hash"}],
            "checkout": checkout,
        })
    write("ap2_issued", "multi-hop", {
        "open": {"vct": "mandate.payment.open.1", "constraints": payment_constraints[:2]},
        "open_claims": {"iat": t0, "exp": t0 + 3600},
        "hops": [
            {"mandate": {"vct": "mandate.payment.open.1", "constraints": payment_constraints[:1]}, "onward": True},
            {"mandate": closed_payment},
        ],
        "checkout": checkout,
    })
    # The AP2 vectors' mandate payloads, re-issued under the harness keys.
    for v in load("vectors", "ap2", "delegate_sd_jwt_vectors.json")["vectors"]:
        hops = []
        for hop in v["compact_serialization"].split("~~"):
            jwt, *discs = hop.rstrip("~").split("~")
            pad = lambda s: s + "=" * (-len(s) % 4)
            for d in discs:
                arr = json.loads(base64.urlsafe_b64decode(pad(d)))
                if len(arr) == 2 and isinstance(arr[1], dict) and "vct" in arr[1]:
                    m = {k: x for k, x in arr[1].items() if k not in ("_sd", "cnf")}
                    hops.append(m)
        if hops:
            write("ap2_issued", "vector-" + v["id"], {
                "open": hops[0], "open_claims": {"iat": t0, "exp": t0 + 3600},
                "hops": [{"mandate": m, "onward": i + 2 < len(hops)} for i, m in enumerate(hops[1:])],
            })


# ---- money, mandates, words ---------------------------------------------------------------

def money():
    for i, s in enumerate(["799.00 CNY", "CNY 799", "799CNY", "¥799.00", "￥799.5", "$5", "1,299.50 USD",
                           "HK$ 12.30", "€0.99", "1.250 KWD", "0.005 BHD", "1,500 JPY", "₩50000", "  usd 3.10 ",
                           "¥500 JPY", "5.001 USD", "5.5 JPY", "5 XYZ", "$5 CNY", "EUR 5 USD",
                           "99999999999999999999 USD", "92233720368547758.07 USD", "92,233,720,368,547,758.07 USD",
                           "12,99 USD", "1,2999 USD", "5. USD", ".5 USD", "1.2.3 USD", "-5 USD", "799", "",
                           "NT$1,000", "S$ 3", "£12.34", "₹99", "₫1000", "฿50", "₱20", "A$1", "C$2", "NZ$3",
                           "CN¥5", "US$5", "RM5.00", "R12.50"]):
        write("money", "text-%02d" % i, s)


def mandate_draft():
    phrases = [
        "Help me buy a pair of hiking boots, under 800 yuan. Ask me above 500 yuan.",
        "at most ¥200 a week on coffee before March", "at most ¥200 a week on coffee until March",
        "automatically buy a lamp", "automatically purchase anything under $500", "buy 10,000 pairs of sneakers",
        "buy a desk lamp", "buy a kettle from grandma", "buy a kettle on amazon.com", "buy a lamp for 300 yuan",
        "buy a lamp no more than 1,299.50", "buy a lamp once", "buy a lamp under 0 yuan",
        "buy a lamp under ¥300, ask me every time", "buy a lamp under ¥800", "buy a lamp, make it blue-ish and fragrant",
        "buy a pair of boots under ¥1.999", "buy coffee, ask me above ¥50", "buy desk lamps", "buy flight UA 88",
        "buy groceries only in China, no gambling", "buy headphones under 1000 yuan but not from Amazon",
        "buy running shoes from Nike", "don't buy anything over 100 dollars", "only book Delta flight 446",
        "only buy from jd.com, max ¥500 per order", "the weather is nice",
        "@today=2026-02-28 currency=USD yen=JPY\nbuy sushi under ¥3000 every month for 2 weeks",
        "@today=2024-12-31 currency=EUR yen=CNY\nspend at most 50 a day on taxis until next Friday, only in FR and DE",
    ]
    PHRASES.extend(phrases)
    for i, p in enumerate(phrases):
        write("mandate_draft", "words-%02d" % i, p)


PHRASES = []


def mandate_json():
    """Mandates as the drafter proposes them (`purser mandate draft --json` on the drafter's test
    phrases; set PURSER_BIN to a built `purser`), each alone and with a payment to evaluate."""
    import subprocess
    purser = os.environ.get("PURSER_BIN")
    if not purser:
        print("PURSER_BIN is not set: mandate_json seeds left as they are")
        return
    cny = lambda minor: {"minor": minor, "currency": "CNY"}
    req = {"amount": cny(45900), "merchant": {"id": "mch_1", "name": "Trailhead Outfitters", "country": "CN", "mcc": "5661"},
           "items": [{"title": "Pathfinder Lightweight Hiking Boots", "quantity": 1, "unit_price": cny(45900)}]}
    for i, words in enumerate(PHRASES):
        if words.startswith("@"):
            continue
        out = subprocess.run([purser, "mandate", "draft", "--json", "--today", "2026-01-01", words],
                             capture_output=True, text=True)
        try:
            m = json.loads(out.stdout)["mandate"]
        except (ValueError, KeyError):
            continue
        write("mandate_json", "draft-%02d" % i, m)
        write("mandate_json", "draft-%02d-with-payment" % i, [m, req, NOW * 1000 + 3600 * 1000, 8 * 3600 * 1000])


# ---- x402, ACP, webhooks ------------------------------------------------------------------

def x402():
    req = {"scheme": "exact", "network": "purser:local", "amount": "150", "asset": "CNY", "payTo": "mch_abc",
           "maxTimeoutSeconds": 60, "extra": {"purser": "http://127.0.0.1:7420"}}
    required = {"x402Version": 2, "error": "payment required",
                "resource": {"url": "http://127.0.0.1:8080/weather", "description": "weather", "mimeType": "application/json"},
                "accepts": [req, dict(req, scheme="upto", amount="1000")]}
    payload = {"x402Version": 2, "resource": required["resource"], "accepted": req, "payload": {
        "credential": "pct_0123456789abcdef",
        "authorization": {"paymentId": "pay_abc", "resource": "http://127.0.0.1:8080/weather",
                          "nonce": "0123456789abcdef0123", "validAfter": "1767225000", "validBefore": "1767226000",
                          "keyid": "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"},
        "signature": b64url(b"\x01" * 64)}}
    response = {"success": True, "payer": "agt_1", "transaction": "pay_abc", "network": "purser:local", "amount": "150"}
    for name, v in [("required", required), ("signature", payload), ("response", response),
                    ("verify", {"x402Version": 2, "paymentPayload": payload, "paymentRequirements": req})]:
        write("x402_headers", name, json.dumps(v))
    write("x402_headers", "required-wire", b64(json.dumps(required).encode()))


def acp():
    ex = load("specs", "acp", "examples", "2026-04-17", "examples.delegate_payment.json")
    body = ex["delegate_payment_request"]
    body = body.get("value", body)
    write("acp_delegate_payment", "spec-example", json.dumps(body))
    # As Purser's tests send it: a sandbox card, an allowance an hour ahead of the fuzz clock.
    mine = json.loads(json.dumps(body))
    if isinstance(mine.get("allowance"), dict):
        mine["allowance"].update({"merchant_id": "mch_0123456789abcdef", "currency": "cny", "max_amount": 45900,
                                  "expires_at": "2026-01-01T01:00:00Z"})
    mine["risk_signals"] = [{"type": "card_testing", "score": 10, "action": "manual_review"}]
    write("acp_delegate_payment", "purser", json.dumps(mine))


def webhooks():
    secret = b"whsec_fuzz_0123456789abcdef0123456789abcdef"
    for i, body in enumerate([b'{"type":"order_created","data":{"type":"order","checkout_session_id":"cs_1"}}', b"", b"{}"]):
        t = NOW
        mac = hmac.new(secret, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
        write("webhook_signature", "signed-%d" % i, ("t=%d,v1=%s\n" % (t, mac)).encode() + body)
        write("webhook_signature", "rotated-%d" % i, ("t=%d,v1=%s,v1=%s,v2=zz\n" % (t, "0" * 64, mac)).encode() + body)
    write("webhook_signature", "malformed", b"t=,v1=\n{}")


def main():
    if not os.path.isdir(SHARED):
        sys.exit("make_corpus.py needs ../shared (the vectors and specs) beside the repository")
    for f in [httpsig, content_digest, signature_agent_card, ap2_chain, ap2_issued, money, mandate_draft,
              mandate_json, x402, acp, webhooks]:
        f()


if __name__ == "__main__":
    main()
