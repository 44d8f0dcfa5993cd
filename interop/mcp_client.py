#!/usr/bin/env python3
"""Drive Purser's MCP server with the official Python MCP SDK (PyPI `mcp`), an implementation
that shares no code with Purser's, and check every tool and its errors.

    mcp_client.py --transport stdio --purser BIN --key AGENT_JWK --server URL  SCENARIO_JSON
    mcp_client.py --transport http  --key AGENT_JWK --server URL               SCENARIO_JSON

stdio runs `BIN mcp --key AGENT_JWK --server URL` as a subprocess. http connects to
URL/mcp and signs every HTTP request as the agent (RFC 9421, Purser's Web Bot Auth profile,
with the independent `http-message-signatures` library — see sign_request.py).

SCENARIO_JSON names what the caller set up: {"user_id", "mandate_id", "merchant_id",
"stranger_id" (a user the agent is not bound to), "task_id"}. The mandate allows at most
CNY 800.00 a payment, pays without asking up to CNY 500.00 and asks above.

Prints one JSON object: {"ok": bool, "checks": [[name, ok, detail]...], "payments": {...}}
and exits 0 when every check passed, 1 otherwise, 2 on bad arguments.
"""

import argparse
import base64
import datetime
import hashlib
import json
import secrets
import sys
import urllib.parse

import anyio
import httpx2
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

import okp_jwk

EXPECTED_TOOLS = {
    "request_payment",
    "get_payment",
    "wait_for_confirmation",
    "list_mandates",
    "simulate_purchase",
    "list_payments",
    "whoami",
}


class _Msg:
    def __init__(self, method, url, headers):
        self.method = method
        self.url = url
        self.headers = headers


class SignedAuth(httpx2.Auth):
    """Signs each request as the agent, exactly as sign_request.py does."""

    requires_request_body = True

    def __init__(self, key_file):
        with open(key_file, encoding="utf-8") as f:
            self.private = okp_jwk.private_key(json.load(f))
        self.key_id = okp_jwk.thumbprint(okp_jwk.public_jwk(self.private.public_key()))

    def auth_flow(self, request):
        body = request.content or None
        parts = urllib.parse.urlsplit(str(request.url))
        headers = {"Host": parts.netloc}
        covered = ["@method", "@authority", "@path"]
        if parts.query:
            covered.append("@query")
        if body:
            headers["Content-Digest"] = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
            covered.append("content-digest")
        msg = _Msg(request.method, str(request.url), headers)
        now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={self.key_id: self.private}),
        ).sign(
            msg,
            key_id=self.key_id,
            created=now,
            expires=now + datetime.timedelta(seconds=300),
            nonce=secrets.token_urlsafe(32),
            label="sig1",
            tag="web-bot-auth",
            include_alg=True,
            covered_component_ids=covered,
            body=body,
            use_existing_digest=bool(body),
        )
        for name, value in msg.headers.items():
            if name != "Host":
                request.headers[name] = value
        yield request


class Checks:
    def __init__(self):
        self.items = []

    def check(self, name, ok, detail=""):
        self.items.append([name, bool(ok), detail if not ok else ""])
        return ok


def parts(result):
    """(is_error, words, json) of a CallToolResult."""
    texts = [c.text for c in result.content if getattr(c, "type", "") == "text"]
    words = texts[0] if texts else ""
    data = json.loads(texts[1]) if len(texts) > 1 else None
    return bool(result.is_error), words, data


def cny(minor):
    return {"amount": minor, "currency": "CNY"}


def payment_args(s, mandate, minor, title, key=None, user=None):
    a = {
        "user_id": user or s["user_id"],
        "mandate_id": mandate,
        "task_id": s["task_id"],
        "merchant": {"id": s["merchant_id"]},
        "items": [{"title": title, "quantity": 1, "unit_price": cny(minor)}],
        "total": cny(minor),
    }
    if key:
        a["idempotency_key"] = key
    return a


async def exercise(session, s, c, tag):
    out = {}
    await session.initialize()
    tools = (await session.list_tools()).tools
    names = {t.name for t in tools}
    # Only stdio holds the agent's key, which paying an HTTP 402 resource signs with.
    expected = EXPECTED_TOOLS | {"pay_http_402_resource"} if tag == "stdio" else EXPECTED_TOOLS
    c.check(f"{tag}: tools/list names every tool", names == expected, sorted(names))
    for t in tools:
        schema = t.input_schema if hasattr(t, "input_schema") else t.inputSchema
        c.check(
            f"{tag}: {t.name} has a description and an object schema",
            len(t.description or "") > 40 and schema.get("type") == "object",
            json.dumps(schema)[:200],
        )
    pay_schema = next(t for t in tools if t.name == "request_payment")
    pay_schema = pay_schema.input_schema if hasattr(pay_schema, "input_schema") else pay_schema.inputSchema
    c.check(
        f"{tag}: request_payment requires user, mandate, task, merchant, items, total",
        set(pay_schema.get("required", [])) >= {"user_id", "mandate_id", "task_id", "merchant", "items", "total"},
        pay_schema.get("required"),
    )

    async def call(name, args):
        return parts(await session.call_tool(name, args))

    err, words, who = await call("whoami", {})
    c.check(
        f"{tag}: whoami names the binding to the user",
        not err and any(b["user_id"] == s["user_id"] and b["status"] == "active" for b in who["bindings"]),
        words,
    )

    err, words, m = await call("list_mandates", {"user_id": s["user_id"]})
    mine = [x for x in (m or {}).get("data", []) if x["id"] == s["mandate_id"]]
    c.check(
        f"{tag}: list_mandates shows the mandate and its remaining budget",
        not err and mine and mine[0]["status"] == "active" and "remaining_budget" in mine[0]["usage"] and s["mandate_id"] in words,
        words,
    )

    err, words, sim = await call("simulate_purchase", {"mandate_id": s["mandate_id"], "total": cny(30000)})
    c.check(f"{tag}: simulate within the mandate is allowed", not err and sim["outcome"] == "allowed", words)
    err, words, sim = await call("simulate_purchase", {"mandate_id": s["mandate_id"], "total": cny(90000)})
    c.check(
        f"{tag}: simulate above the mandate is declined with a reason",
        not err and sim["outcome"] == "declined" and sim["failures"] and words.startswith("Declined"),
        words,
    )

    err, words, p = await call("request_payment", payment_args(s, s["mandate_id"], 30000, f"Boots {tag}"))
    ok = c.check(
        f"{tag}: request_payment within the mandate is approved with a credential",
        not err and p["status"] == "approved" and p["credential"]["token"].startswith("pct_") and "Approved" in words,
        words,
    )
    if ok:
        out["approved"] = p["id"]
        err, words2, again = await call("request_payment", payment_args(s, s["mandate_id"], 30000, f"Boots {tag}"))
        c.check(f"{tag}: the identical call replays the same payment", not err and again["id"] == p["id"], words2)
        err, words2, g = await call("get_payment", {"payment_id": p["id"]})
        c.check(f"{tag}: get_payment returns it", not err and g["id"] == p["id"] and g["status"] == "approved", words2)

    err, words, p = await call("request_payment", payment_args(s, s["mandate_id"], 90000, f"Luxury boots {tag}"))
    ok = c.check(
        f"{tag}: above the mandate is declined with the reason in words",
        not err and p["status"] == "declined" and p["decline"]["code"] and p["decline"]["message"] in words,
        words,
    )
    if ok:
        out["declined"] = p["id"]

    err, words, p = await call("request_payment", payment_args(s, s["mandate_id"], 60000, f"Mid boots {tag}"))
    ok = c.check(
        f"{tag}: above the auto-pay threshold needs confirmation, with the link",
        not err and p["status"] == "needs_confirmation" and p["confirmation"]["url"] in words,
        words,
    )
    if ok:
        out["needs_confirmation"] = p["id"]
        err, words2, w = await call("wait_for_confirmation", {"payment_id": p["id"], "timeout_seconds": 1})
        c.check(
            f"{tag}: wait_for_confirmation gives up after its bound, still waiting",
            not err and w["status"] == "needs_confirmation" and "Still waiting" in words2,
            words2,
        )

    err, words, lst = await call("list_payments", {"task_id": s["task_id"], "limit": 50})
    ids = {x["id"] for x in (lst or {}).get("data", [])}
    c.check(
        f"{tag}: list_payments shows them with totals",
        not err and set(out.values()) <= ids and lst["totals"],
        words,
    )

    # Errors: Purser's code and message, as tool errors.
    async def refused(name, args, code, what, param=None):
        err, words, data = await call(name, args)
        e = (data or {}).get("error", {})
        c.check(
            f"{tag}: {what} is a tool error {code}",
            err and e.get("code") == code and e.get("message") and (param is None or e.get("param") == param),
            f"{words} {data}",
        )

    unknown = "mdt_" + "a" * 24
    await refused("simulate_purchase", {"mandate_id": unknown, "total": cny(100)}, "mandate_not_found", "an unknown mandate (simulate)")
    err, words, p = await call("request_payment", payment_args(s, unknown, 100, "x"))
    code = (p or {}).get("error", {}).get("code") or (p or {}).get("decline", {}).get("code")
    c.check(f"{tag}: an unknown mandate is declined by request_payment (mandate_unknown)", not err and code == "mandate_unknown" and "mandate_unknown" in words, f"{words} {p}")
    await refused("list_mandates", {"user_id": s["stranger_id"]}, "agent_not_bound", "a user who did not bind the agent")
    await refused(
        "request_payment",
        payment_args(s, s["mandate_id"], 100, "x", user=s["stranger_id"]),
        "agent_not_bound",
        "paying for a user who did not bind the agent",
    )
    bad = payment_args(s, s["mandate_id"], 100, "x")
    del bad["total"]
    await refused("request_payment", bad, "invalid_arguments", "a missing total", param="total")
    bad = payment_args(s, s["mandate_id"], 100, "x")
    bad["total"] = {"amount": "1.00", "currency": "CNY"}
    await refused("request_payment", bad, "invalid_arguments", "a decimal string amount")
    bad = payment_args(s, s["mandate_id"], 100, "x")
    bad["total"] = cny(200)
    await refused("request_payment", bad, "total_mismatch", "a total that is not the sum of the items")
    await refused("get_payment", {"payment_id": "pay_" + "b" * 24}, "payment_not_found", "an unknown payment")
    await refused("wait_for_confirmation", {"payment_id": "pay_x", "timeout_seconds": 999}, "timeout_invalid", "a wait above the bound")
    await refused("list_payments", {"limit": 0}, "limit_invalid", "limit 0")
    return out


async def main_async(args, s):
    c = Checks()
    if args.transport == "stdio":
        params = StdioServerParameters(command=args.purser, args=["mcp", "--key", args.key, "--server", args.server])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                payments = await exercise(session, s, c, "stdio")
    else:
        url = args.server.rstrip("/") + "/mcp"
        async with httpx2.AsyncClient(auth=SignedAuth(args.key), timeout=60) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                read, write = streams[0], streams[1]
                async with ClientSession(read, write) as session:
                    payments = await exercise(session, s, c, "http")
        # An unsigned request never reaches MCP.
        async with httpx2.AsyncClient(timeout=30) as plain:
            r = await plain.post(
                url,
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream"},
            )
            c.check("http: an unsigned request is refused 401 signature_missing", r.status_code == 401 and r.json().get("code") == "signature_missing", r.text[:200])
    return c, payments


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transport", choices=["stdio", "http"], required=True)
    p.add_argument("--purser", help="the purser binary (stdio)")
    p.add_argument("--key", required=True, help="the agent's private JWK file")
    p.add_argument("--server", required=True, help="Purser's base URL")
    p.add_argument("scenario", help="JSON: user_id, mandate_id, merchant_id, stranger_id, task_id")
    args = p.parse_args(argv)
    if args.transport == "stdio" and not args.purser:
        p.error("--transport stdio needs --purser")
    try:
        s = json.loads(args.scenario)
    except ValueError as e:
        p.error(f"the scenario is not JSON: {e}")
    c, payments = anyio.run(main_async, args, s)
    ok = all(item[1] for item in c.items)
    print(json.dumps({"ok": ok, "checks": c.items, "payments": payments}, indent=1, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
