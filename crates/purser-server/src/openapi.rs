//! The OpenAPI document, assembled from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{ledger, ledger_dto, system};

#[derive(OpenApi)]
#[openapi(
    info(title = "Purser", description = "Agent wallet and payment authority. Errors are `{type, code, message, param}`; money is integer minor units plus an ISO 4217 code."),
    paths(
        system::healthz, system::metrics, system::openapi,
        ledger::create_account, ledger::get_account, ledger::create_transfer, ledger::get_transfer,
        ledger::get_hold, ledger::post_hold, ledger::void_hold, ledger::batch,
    ),
    components(schemas(
        crate::error::ErrorBody, system::Health,
        ledger_dto::Flags, ledger_dto::CreateAccount, ledger_dto::CreateTransfer, ledger_dto::TransferType,
        ledger_dto::PostHold, ledger_dto::VoidHold, ledger_dto::BatchRequest, ledger_dto::Operation,
        ledger_dto::BatchResponse, ledger_dto::BatchResult, ledger_dto::AccountView, ledger_dto::TransferView,
        ledger_dto::HoldView,
    )),
    modifiers(&OperatorAuth),
    tags((name = "ledger", description = "Double-entry ledger (operator only)"), (name = "system", description = "Health, metrics, API description")),
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
        }
    }
}
