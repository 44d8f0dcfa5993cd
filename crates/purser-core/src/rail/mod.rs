//! The card rail adapter interface and the built-in sandbox issuer.
