//! Envelope encryption for the card vault: AES-256-GCM data keys wrapped by key-encryption keys.
