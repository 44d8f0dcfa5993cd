//! Redemption by the merchant: capture, void, refund.
