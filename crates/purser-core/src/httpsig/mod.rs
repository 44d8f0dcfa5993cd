//! HTTP Message Signatures (RFC 9421) in the Web Bot Auth profile, Content-Digest (RFC 9530), Ed25519 JWKs and thumbprints (RFC 7638).
