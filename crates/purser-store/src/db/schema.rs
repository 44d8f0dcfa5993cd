//! The record tables, as numbered migrations. Written once for both databases: `BYTEA`
//! becomes `BLOB` on SQLite; everything else is common SQL.

/// `(version, statements)`, applied in order, each exactly once.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    status TEXT NOT NULL,
    setup_hash TEXT UNIQUE,
    setup_expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE TABLE wallet_accounts (
    user_id TEXT NOT NULL REFERENCES users(id),
    currency TEXT NOT NULL,
    account_id TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, currency)
);
CREATE TABLE vault_records (
    id TEXT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    wrapped_dek BYTEA NOT NULL,
    ciphertext BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX vault_records_kek ON vault_records(kek_id);
CREATE TABLE cards (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    holder TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    number_record TEXT REFERENCES vault_records(id),
    cvv_record TEXT REFERENCES vault_records(id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX cards_user ON cards(user_id);
CREATE UNIQUE INDEX cards_one_active_per_fingerprint ON cards(user_id, fingerprint) WHERE status = 'active';
CREATE TABLE topups (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    card_id TEXT NOT NULL REFERENCES cards(id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    rail TEXT NOT NULL,
    rail_ref TEXT,
    challenge TEXT,
    decline_code TEXT,
    decline_message TEXT,
    refunded BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX topups_user ON topups(user_id, created_at);
CREATE INDEX topups_open ON topups(status) WHERE status IN ('pending', 'approved');
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    topup_id TEXT NOT NULL REFERENCES topups(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    failure TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX refunds_topup ON refunds(topup_id);
CREATE INDEX refunds_open ON refunds(status) WHERE status = 'pending';
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES users(id),
    name TEXT NOT NULL,
    operator TEXT NOT NULL,
    status TEXT NOT NULL,
    card TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX agents_developer ON agents(developer_id);
CREATE TABLE agent_keys (
    thumbprint TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    jwk TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    not_after BIGINT
);
CREATE INDEX agent_keys_agent ON agent_keys(agent_id);
CREATE TABLE bindings (
    id TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    status TEXT NOT NULL,
    frozen BIGINT NOT NULL DEFAULT 0,
    funding_source TEXT,
    purpose TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);
CREATE INDEX bindings_user ON bindings(user_id);
CREATE UNIQUE INDEX bindings_one_open ON bindings(agent_id, user_id) WHERE status IN ('pending', 'active');
CREATE TABLE exclusive_cards (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    binding_id TEXT NOT NULL REFERENCES bindings(id),
    currency TEXT NOT NULL,
    account_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX exclusive_cards_user ON exclusive_cards(user_id);
CREATE UNIQUE INDEX exclusive_cards_one_open ON exclusive_cards(binding_id, currency) WHERE status = 'active';
CREATE TABLE nonces (
    keyid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (keyid, nonce)
);
CREATE INDEX nonces_expiry ON nonces(expires_at);
CREATE TABLE idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    status BIGINT,
    body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_age ON idempotency(created_at);
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_record TEXT NOT NULL REFERENCES vault_records(id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    publish_until BIGINT
);
"#,
    ),
    (
        2,
        r#"
ALTER TABLE api_tokens ADD COLUMN parent_id TEXT;
CREATE INDEX api_tokens_parent ON api_tokens(parent_id);
"#,
    ),
    (
        3,
        r#"
CREATE TABLE mandates (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    status TEXT NOT NULL,
    content TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    timezone TEXT NOT NULL,
    charges BIGINT NOT NULL DEFAULT 0,
    agent_kid TEXT,
    issuer_kid TEXT,
    checkout_credential TEXT,
    payment_credential TEXT,
    credential_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    consented_at BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX mandates_user ON mandates(user_id, created_at);
CREATE INDEX mandates_agent ON mandates(agent_id);
CREATE TABLE mandate_usage (
    mandate_id TEXT NOT NULL REFERENCES mandates(id),
    bucket TEXT NOT NULL,
    amount BIGINT NOT NULL,
    payments BIGINT NOT NULL,
    PRIMARY KEY (mandate_id, bucket)
);
CREATE TABLE mandate_charges (
    payment_id TEXT PRIMARY KEY,
    mandate_id TEXT NOT NULL REFERENCES mandates(id),
    user_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    buckets TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX mandate_charges_mandate ON mandate_charges(mandate_id);
CREATE INDEX mandate_charges_status ON mandate_charges(status, updated_at);
"#,
    ),
    (
        4,
        r#"
CREATE TABLE merchants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    website TEXT NOT NULL,
    country TEXT,
    category TEXT,
    key_hash TEXT NOT NULL UNIQUE,
    webhook_url TEXT,
    webhook_secret_record TEXT REFERENCES vault_records(id),
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE agent_webhooks (
    agent_id TEXT PRIMARY KEY REFERENCES agents(id),
    url TEXT NOT NULL,
    secret_record TEXT NOT NULL REFERENCES vault_records(id),
    created_at BIGINT NOT NULL
);
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    agent_id TEXT NOT NULL,
    binding_id TEXT NOT NULL,
    agent_kid TEXT NOT NULL,
    mandate_id TEXT,
    task_id TEXT NOT NULL,
    merchant_id TEXT NOT NULL,
    checkout_id TEXT,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    cart_hash TEXT NOT NULL,
    max_quantity BIGINT NOT NULL,
    funding TEXT NOT NULL,
    request TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    decline_code TEXT,
    reasons TEXT NOT NULL,
    receipt TEXT,
    credential_expires_at BIGINT,
    hold_expires_at BIGINT,
    capture_amount BIGINT,
    end_status TEXT,
    end_reason TEXT,
    captured BIGINT NOT NULL DEFAULT 0,
    refunded BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX payments_user ON payments(user_id, created_at);
CREATE INDEX payments_agent ON payments(agent_id, created_at);
CREATE INDEX payments_task ON payments(task_id, created_at);
CREATE INDEX payments_status ON payments(status, updated_at);
CREATE INDEX payments_mandate ON payments(mandate_id, created_at);
CREATE INDEX payments_merchant ON payments(merchant_id, created_at);
CREATE INDEX payments_cart ON payments(agent_id, cart_hash, created_at);
CREATE TABLE confirmations (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE REFERENCES payments(id),
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    method TEXT,
    receipt TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX confirmations_user ON confirmations(user_id, status);
CREATE TABLE pins (
    user_id TEXT PRIMARY KEY REFERENCES users(id),
    hash TEXT NOT NULL,
    failures BIGINT NOT NULL,
    locked_until BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE TABLE payment_refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments(id),
    merchant_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX payment_refunds_payment ON payment_refunds(payment_id);
CREATE INDEX payment_refunds_status ON payment_refunds(status, updated_at);
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    user_id TEXT NOT NULL,
    agent_id TEXT,
    merchant_id TEXT,
    payment_id TEXT,
    task_id TEXT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_payment ON events(payment_id, created_at);
CREATE INDEX events_task ON events(task_id, created_at);
CREATE INDEX events_user ON events(user_id, created_at);
CREATE TABLE deliveries (
    event_id TEXT NOT NULL REFERENCES events(id),
    target TEXT NOT NULL,
    url TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    last_error TEXT,
    delivered_at BIGINT,
    PRIMARY KEY (event_id, target)
);
CREATE INDEX deliveries_due ON deliveries(status, next_at);
CREATE INDEX deliveries_target ON deliveries(target, next_at);
"#,
    ),
    (
        5,
        r#"
CREATE INDEX payments_agent_user ON payments(agent_id, user_id, created_at);
"#,
    ),
    (
        6,
        r#"
CREATE TABLE acp_keys (
    id TEXT PRIMARY KEY,
    binding_id TEXT NOT NULL REFERENCES bindings(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    agent_id TEXT NOT NULL REFERENCES agents(id),
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX acp_keys_binding ON acp_keys(binding_id);
"#,
    ),
    (
        8,
        r#"
ALTER TABLE payments ADD COLUMN ap2_reference TEXT;
CREATE UNIQUE INDEX payments_ap2_reference ON payments(ap2_reference);
"#,
    ),
    (
        9,
        r#"
ALTER TABLE payments ADD COLUMN origin TEXT NOT NULL DEFAULT 'agent';
CREATE TABLE schedules (
    mandate_id TEXT PRIMARY KEY REFERENCES mandates(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    next_occurrence BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    charged BIGINT NOT NULL DEFAULT 0,
    declined BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX schedules_due ON schedules(state, next_at);
CREATE TABLE scheduled_charges (
    mandate_id TEXT NOT NULL REFERENCES schedules(mandate_id),
    occurrence BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    payment_id TEXT,
    status TEXT NOT NULL,
    reason_code TEXT,
    reason TEXT,
    reminded_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (mandate_id, occurrence)
);
"#,
    ),
    (
        10,
        r#"
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    credential_id TEXT NOT NULL UNIQUE,
    passkey TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys(user_id);
CREATE TABLE web_sessions (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE INDEX web_sessions_expiry ON web_sessions(expires_at);
CREATE TABLE webauthn_ceremonies (
    id_hash TEXT PRIMARY KEY,
    user_id TEXT,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies(expires_at);
"#,
    ),
    (
        15,
        r#"
ALTER TABLE pins ADD COLUMN lockouts BIGINT NOT NULL DEFAULT 0;
"#,
    ),
    (
        16,
        r#"
ALTER TABLE pins ADD COLUMN browser_failures BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pins ADD COLUMN browser_locked_until BIGINT;
ALTER TABLE pins ADD COLUMN browser_lockouts BIGINT NOT NULL DEFAULT 0;
UPDATE pins SET browser_failures = failures, browser_locked_until = locked_until, browser_lockouts = lockouts;
CREATE TABLE pin_devices (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    failures BIGINT NOT NULL DEFAULT 0,
    locked_until BIGINT,
    lockouts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pin_devices_user ON pin_devices(user_id, last_used_at);
"#,
    ),
    (
        // Every query the sweeper and the anomaly rules run on each pass or decision reads an
        // index range bounded by the work due, not the payments still open (or the person's
        // whole history): open payments of frozen and lately revoked bindings, credentials and
        // confirmations by expiry, held charges a page at a time, a person's largest quantity,
        // and the duplicate check by the full cart key. A payment declined by the old two
        // writes and cut off between them (its confirmation declined, the payment still
        // waiting) is set ending, for the sweeper to finish. On PostgreSQL the index builds
        // hold writes to these tables until the migration commits (README, PostgreSQL).
        20,
        r#"
CREATE INDEX payments_credential_due ON payments(status, credential_expires_at);
CREATE INDEX payments_open_binding ON payments(binding_id) WHERE status IN ('approved', 'needs_confirmation');
CREATE INDEX payments_user_quantity ON payments(user_id, max_quantity) WHERE status IN ('approved', 'captured', 'refunded');
CREATE INDEX confirmations_due ON confirmations(status, expires_at);
CREATE INDEX bindings_frozen ON bindings(id) WHERE frozen = 1;
CREATE INDEX bindings_revoked ON bindings(decided_at) WHERE status = 'revoked';
DROP INDEX payments_cart;
CREATE INDEX payments_cart ON payments(agent_id, cart_hash, user_id, created_at);
DROP INDEX mandate_charges_status;
CREATE INDEX mandate_charges_status ON mandate_charges(status, updated_at, payment_id);
UPDATE payments SET status = 'ending', end_status = 'declined', end_reason = 'declined_by_person' WHERE status = 'needs_confirmation' AND id IN (SELECT payment_id FROM confirmations WHERE status = 'declined');
"#,
    ),
];

/// The DDL for SQLite.
pub(super) fn sqlite_ddl(sql: &str) -> String {
    sql.replace("BYTEA", "BLOB")
}
