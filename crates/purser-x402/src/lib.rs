//! HTTP 402 pay-per-call for Purser, in the x402 v2 protocol.
//!
//! * [`types`]: the specification's messages, with its field names (`x402Version`,
//!   `accepts`, `payTo`, `maxTimeoutSeconds`, `isValid`, `errorReason`, …).
//! * [`header`]: the `PAYMENT-REQUIRED`, `PAYMENT-SIGNATURE` and `PAYMENT-RESPONSE` headers
//!   (base64 JSON), decoded under a size limit and strictly, with clear errors.
//! * [`purser`]: Purser's fiat scheme on Purser's network (`purser:<instance>`, an ISO 4217
//!   `asset`, minor units in `amount`, schemes `exact` and `upto`) and the bytes the agent
//!   signs.
//! * `middleware` (feature `middleware`, on by default): [`Paywall`] and its tower
//!   [`X402Layer`] for axum routes — 402 with `PAYMENT-REQUIRED`, verify through the
//!   facilitator, run the handler, settle, `PAYMENT-RESPONSE` — and the [`Facilitator`] HTTP
//!   client. It talks to Purser over HTTP only, as any third-party service would.
//!
//! ```no_run
//! # #[cfg(feature = "middleware")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{routing::get, Extension, Router};
//! use purser_x402::{Paywall, Usage};
//!
//! let paywall = Paywall::connect("http://127.0.0.1:7420", "psk_…", "http://127.0.0.1:8080").await?;
//! let app: Router = Router::new()
//!     .route("/weather", get(|| async { "sunny" }).layer(paywall.exact(150, "CNY")?.description("Today's weather")))
//!     .route("/summarize", get(|| async { (Extension(Usage(37)), "a summary") }).layer(paywall.upto(500, "CNY")?));
//! # Ok(()) }
//! ```

pub mod header;
pub mod purser;
pub mod types;

#[cfg(feature = "middleware")]
mod facilitator;
#[cfg(feature = "middleware")]
mod middleware;

#[cfg(feature = "middleware")]
pub use facilitator::{Facilitator, FacilitatorError};
#[cfg(feature = "middleware")]
pub use middleware::{
    ConfigError, Paid, Paywall, Usage, X402Layer, X402Service, DEFAULT_TIMEOUT_SECONDS,
};

pub use header::{HeaderError, PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE};
pub use types::{
    PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo, SettleRequest,
    SettleResponse, SupportedKind, SupportedResponse, VerifyRequest, VerifyResponse, X402_VERSION,
};
