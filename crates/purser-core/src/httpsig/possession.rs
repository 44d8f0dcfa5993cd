//! Proof that whoever registers an agent key holds its private half: an Ed25519 signature over
//! a statement naming the registering user and the key. Public keys are public (Web Bot Auth
//! publishes them), so without this anyone could register someone else's key first and have
//! its signatures attributed to their own agent. Naming the user means a proof made for one
//! developer cannot be replayed by another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::jwk::{Ed25519PublicKey, KeyError};
use super::keypair::Ed25519KeyPair;

/// What the key signs: `purser-agent-key-possession:v1:<user id>:<key thumbprint>`.
pub fn possession_statement(user_id: &str, thumbprint: &str) -> String {
    format!("purser-agent-key-possession:v1:{user_id}:{thumbprint}")
}

impl Ed25519KeyPair {
    /// The proof to send as `key_proof` when `user_id` registers this key (base64url).
    pub fn possession_proof(&self, user_id: &str) -> Result<String, KeyError> {
        let statement = possession_statement(user_id, &self.key_id());
        Ok(URL_SAFE_NO_PAD.encode(self.sign(statement.as_bytes())?))
    }
}

impl Ed25519PublicKey {
    /// Does `proof` show that `user_id` holds this key's private half?
    pub fn proves_possession(&self, user_id: &str, proof: &str) -> bool {
        if proof.len() > 128 {
            return false;
        }
        let Ok(sig) = URL_SAFE_NO_PAD.decode(proof.trim_end_matches('=')) else {
            return false;
        };
        self.verifies(
            possession_statement(user_id, &self.thumbprint()).as_bytes(),
            &sig,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_names_its_user_and_key() {
        let k = Ed25519KeyPair::generate().unwrap();
        let other = Ed25519KeyPair::generate().unwrap();
        let p = k.possession_proof("usr_a").unwrap();
        assert!(k.public_key().proves_possession("usr_a", &p));
        assert!(!k.public_key().proves_possession("usr_b", &p));
        assert!(!other.public_key().proves_possession("usr_a", &p));
        assert!(!k.public_key().proves_possession("usr_a", "not base64!"));
        assert!(!k.public_key().proves_possession("usr_a", &"A".repeat(500)));
    }
}
