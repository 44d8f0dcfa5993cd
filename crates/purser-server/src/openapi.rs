//! The OpenAPI document, assembled from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    agents, keys, ledger, ledger_dto, mandates, oversight, payments, system, users, wallet,
};
use crate::routes::{evidence, merchants, redeem, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(title = "Purser", description = "Agent wallet and payment authority. Errors are `{type, code, message, param}`; money is integer minor units plus an ISO 4217 code."),
    paths(
        system::healthz, system::metrics, system::openapi,
        ledger::create_account, ledger::get_account, ledger::create_transfer, ledger::get_transfer,
        ledger::get_hold, ledger::post_hold, ledger::void_hold, ledger::batch,
        users::create_user, users::get_user, users::setup, users::me, users::create_token, users::list_tokens, users::revoke_token,
        wallet::wallet, wallet::add_card, wallet::list_cards, wallet::get_card, wallet::remove_card,
        wallet::top_up, wallet::list_topups, wallet::get_topup, wallet::challenge, wallet::refund, wallet::list_refunds,
        wallet::create_exclusive, wallet::list_exclusive, wallet::get_exclusive, wallet::fund, wallet::withdraw, wallet::close_exclusive,
        agents::register, agents::list, agents::get, agents::rotate_key, agents::revoke_key, agents::revoke,
        agents::list_bindings, agents::get_binding, agents::approve, agents::decline, agents::freeze, agents::unfreeze,
        agents::revoke_binding, agents::funding_source, agents::whoami, agents::request_binding, agents::funds,
        mandates::draft_mandate, mandates::create, mandates::list, mandates::get, mandates::update,
        mandates::consent, mandates::simulate, mandates::revoke, mandates::charges, mandates::credentials, mandates::agent_credentials, mandates::status,
        payments::authorize, payments::agent_payment, payments::agent_payments, mandates::agent_list, mandates::agent_simulate, payments::get, evidence::evidence,
        oversight::tasks, oversight::timeline, oversight::task_stream, oversight::payment_stream, oversight::bills,
        keys::jwks, keys::directory, keys::agent_key, keys::vault_status, keys::vault_rotate, keys::vault_destroy, keys::signing_rotate,
        merchants::create, merchants::list, merchants::get, merchants::me, merchants::deliveries, merchants::retry,
        webhooks::set, webhooks::get, webhooks::remove, webhooks::delete,
        redeem::capture, redeem::get, redeem::void, redeem::refund,
        crate::routes::pins::set_pin, crate::routes::pins::pin_status,
        crate::routes::x402::supported, crate::routes::x402::verify, crate::routes::x402::settle,
        crate::routes::acp::delegate_payment, crate::routes::acp::create_key, crate::routes::acp::list_keys, crate::routes::acp::revoke_key,
    ),
    components(schemas(
        crate::error::ErrorBody, system::Health,
        ledger_dto::Flags, ledger_dto::CreateAccount, ledger_dto::CreateTransfer, ledger_dto::TransferType,
        ledger_dto::PostHold, ledger_dto::VoidHold, ledger_dto::BatchRequest, ledger_dto::Operation,
        ledger_dto::BatchResponse, ledger_dto::BatchResult, ledger_dto::AccountView, ledger_dto::TransferView,
        ledger_dto::HoldView,
        users::CreateUser, users::Setup, users::CreateToken, wallet::AddCard, wallet::TopUp, wallet::ChallengeAnswer,
        wallet::RefundRequest, wallet::CreateExclusiveCard, wallet::MoveMoney, agents::RegisterAgent, agents::RotateKey,
        agents::FundingSource, agents::BindingRequest,
        mandates::DraftRequest, mandates::CreateMandate, mandates::UpdateMandate, mandates::Consent,
        mandates::Simulate, mandates::Revoke,
        merchants::CreateMerchant, webhooks::SetWebhook,
        crate::routes::pins::SetPin, purser_wallet::pins::PinStatus,
    )),
    modifiers(&OperatorAuth),
    tags((name = "ledger", description = "Double-entry ledger (operator only)"),
        (name = "users", description = "Users and API tokens"),
        (name = "wallet", description = "Balances, cards (sandbox rail), top-ups, refunds, agent-exclusive cards"),
        (name = "agents", description = "Agents you develop: registration, keys, revocation"),
        (name = "bindings", description = "Which agents may act for you; freeze is the kill switch"),
        (name = "mandates", description = "What your agents may buy: drafted from your words, consented, signed as AP2 credentials, revocable"),
        (name = "payments", description = "Your agents' payments: decisions, timelines, bills and evidence"),
        (name = "agent", description = "Agent-facing calls; every request carries an HTTP Message Signature (RFC 9421, Web Bot Auth)"),
        (name = "merchants", description = "Merchants: registration (operator), the merchant's own view with its API key (`Authorization: Bearer psk_…`), webhook deliveries and retries. Webhooks carry `Merchant-Signature: t=<unix>,v1=<hex HMAC-SHA256 over \"<t>.<body>\">` and `Purser-Event-Id` (deduplicate by it: delivery is at least once)"),
        (name = "x402", description = "HTTP 402 pay-per-call facilitator (x402 v2): verify and settle as a merchant; Purser's fiat scheme on network purser:<instance>"),
        (name = "acp", description = "ACP delegated payment (2026-04-17): `Authorization: Bearer pak_…` (an ACP key the person issued for one binding) → a `vt_…` vault token the merchant redeems at /v1/merchant/captures"),
        (name = "keys", description = "Purser's public keys, vault and signing key rotation"), (name = "system", description = "Health, metrics, API description")),
)]
pub struct ApiDoc;

struct OperatorAuth;

impl Modify for OperatorAuth {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = api.components.as_mut() {
            components.add_security_scheme(
                "operator",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                "user",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                "acp_key",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                "merchant",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
            components.add_security_scheme(
                "http_signature",
                SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                    utoipa::openapi::security::ApiKeyValue::with_description(
                        "Signature",
                        "RFC 9421 HTTP Message Signature (Web Bot Auth profile) with Signature-Input; Ed25519, keyid = JWK thumbprint",
                    ),
                )),
            );
        }
    }
}
