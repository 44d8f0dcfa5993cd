//! The agent's signing key: an Ed25519 key pair kept as a private JWK in a file only its owner
//! can read.

use crate::Error;
use purser_core::httpsig::Ed25519KeyPair;
use serde_json::Value;
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use zeroize::{Zeroize, Zeroizing};

/// Largest key file read. A private Ed25519 JWK is about 150 bytes; 4 KiB leaves room for
/// extra members (`kid`, `alg`, whitespace) without reading an arbitrary file into memory.
pub const MAX_KEY_FILE_BYTES: u64 = 4 * 1024;

/// An agent's Ed25519 signing key. Its public half is registered with Purser
/// (`purser agent register`, or `POST /v1/agents`); the private half never leaves the agent.
///
/// `Debug` shows only the key id.
pub struct AgentKey(Ed25519KeyPair);

impl fmt::Debug for AgentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentKey")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

impl AgentKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<AgentKey, Error> {
        Ed25519KeyPair::generate()
            .map(AgentKey)
            .map_err(|e| Error::Key(e.to_string()))
    }

    /// Wraps a key pair made elsewhere.
    pub fn from_key_pair(pair: Ed25519KeyPair) -> AgentKey {
        AgentKey(pair)
    }

    /// Reads a private OKP JWK: `{"kty":"OKP","crv":"Ed25519","x":"…","d":"…"}`.
    pub fn from_private_jwk(json: &str) -> Result<AgentKey, Error> {
        let mut value: Value = serde_json::from_str(json)
            .map_err(|e| Error::Key(format!("the private key is not a JSON object: {e}")))?;
        let result = Ed25519KeyPair::from_private_jwk(&value)
            .map(AgentKey)
            .map_err(|e| Error::Key(e.to_string()));
        if let Some(Value::String(d)) = value.get_mut("d") {
            d.zeroize();
        }
        result
    }

    /// The private JWK as JSON text, for storage. Zeroized when dropped.
    pub fn to_private_jwk(&self) -> Result<Zeroizing<String>, Error> {
        self.0
            .to_private_jwk()
            .map_err(|e| Error::Key(e.to_string()))
    }

    /// The public JWK, `{"kty":"OKP","crv":"Ed25519","x":"…"}`: what to register with Purser.
    pub fn public_jwk(&self) -> Value {
        self.0.public_key().to_jwk()
    }

    /// The key id: the RFC 7638 JWK thumbprint of the public key, sent as `keyid` in every
    /// signature and shown by Purser as the key's `kid`.
    pub fn kid(&self) -> String {
        self.0.key_id()
    }

    /// Proof that `user_id` (the developer registering the agent) holds this key: send it as
    /// `key_proof` with `POST /v1/agents` or `POST /v1/agents/{id}/keys`.
    pub fn possession_proof(&self, user_id: &str) -> Result<String, crate::Error> {
        self.0
            .possession_proof(user_id)
            .map_err(|e| crate::Error::Signing(e.to_string()))
    }

    /// The key pair, for signing with [`purser_core::httpsig::sign_request`] directly.
    pub fn key_pair(&self) -> &Ed25519KeyPair {
        &self.0
    }

    /// Writes the private JWK to a new file at `path`, readable and writable by its owner
    /// only (mode 0600 on Unix), creating missing parent directories. Refuses to overwrite an
    /// existing file: a registered key that is overwritten is lost.
    pub fn save_to_file(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let shown = path.display();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::Key(format!("cannot create {}: {e}", parent.display())))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::Key(format!(
                    "{shown} already exists; the SDK does not overwrite a key file (move it \
                     away first if you really mean to replace that key)"
                ))
            } else {
                Error::Key(format!("cannot create {shown}: {e}"))
            }
        })?;
        let jwk = self.to_private_jwk()?;
        file.write_all(jwk.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::Key(format!("cannot write {shown}: {e}")))
    }

    /// Reads a key written by [`AgentKey::save_to_file`] (or any private Ed25519 JWK). On
    /// Unix, refuses a file that other users can read or write, as ssh does.
    pub fn load_from_file(path: impl AsRef<Path>) -> Result<AgentKey, Error> {
        let path = path.as_ref();
        let shown = path.display();
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Key(format!("cannot open {shown}: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| Error::Key(format!("cannot read {shown}: {e}")))?;
        if !meta.is_file() {
            return Err(Error::Key(format!("{shown} is not a regular file")));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Error::Key(format!(
                    "{shown} holds a private key but other users can access it (mode {mode:03o}); \
                     run `chmod 600 {shown}`, and if others may have read it, make a new key"
                )));
            }
        }
        if meta.len() > MAX_KEY_FILE_BYTES {
            return Err(Error::Key(format!(
                "{shown} is larger than {MAX_KEY_FILE_BYTES} bytes; it is not a JWK key file"
            )));
        }
        let mut text = Zeroizing::new(String::new());
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| Error::Key(format!("cannot read {shown}: {e}")))?;
        AgentKey::from_private_jwk(&text)
            .map_err(|e| Error::Key(format!("{shown}: {}", strip_prefix(&e))))
    }

    /// Loads the key at `path`, or creates and saves a new one when there is no file.
    /// The flag says whether the key was just created (and so still needs registering).
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<(AgentKey, bool), Error> {
        let path = path.as_ref();
        match std::fs::symlink_metadata(path) {
            Ok(_) => AgentKey::load_from_file(path).map(|k| (k, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = AgentKey::generate()?;
                key.save_to_file(path)?;
                Ok((key, true))
            }
            Err(e) => Err(Error::Key(format!("cannot read {}: {e}", path.display()))),
        }
    }
}

/// The message of a key error without the "agent key: " that Display puts in front.
fn strip_prefix(e: &Error) -> String {
    match e {
        Error::Key(m) => m.clone(),
        other => other.to_string(),
    }
}
