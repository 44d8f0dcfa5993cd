//! Operator authentication for the ledger routes.
//!
//! The ledger API moves money between any accounts, so only the operator may call it. The
//! operator token is created on first start as a 0600 file in the data directory (or given in
//! `PURSER_OPERATOR_TOKEN`). The server keeps only its SHA-256 and compares in constant time;
//! the token itself is never logged or returned.

use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Name of the token file inside the data directory.
pub const TOKEN_FILE: &str = "operator-token";

/// Environment variable that supplies the token instead of the file.
pub const TOKEN_ENV: &str = "PURSER_OPERATOR_TOKEN";

/// Shortest token accepted from the environment: 128 bits of hex.
const MIN_TOKEN_LEN: usize = 32;

/// The SHA-256 of the operator token.
#[derive(Clone)]
pub struct OperatorKey([u8; 32]);

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorKey(***)")
    }
}

impl OperatorKey {
    pub fn from_token(token: &str) -> OperatorKey {
        OperatorKey(Sha256::digest(token.trim().as_bytes()).into())
    }

    /// Check `Authorization: Bearer <token>`.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                format!(
                    "send the operator token as 'Authorization: Bearer <token>'; it is in the file {TOKEN_FILE} in Purser's data directory"
                ),
            )
        };
        let given = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| match v.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => v.get(7..),
                _ => None,
            })
            .ok_or_else(unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        let diff = digest
            .iter()
            .zip(self.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 {
            Ok(())
        } else {
            Err(unauthorized())
        }
    }
}

/// Where the token came from, for the startup message.
pub enum TokenSource {
    Env,
    File(PathBuf),
}

/// Load the operator token from the environment or the data directory, creating the file
/// (0600) with a fresh random token if there is none.
pub fn load_or_create(data_dir: &Path) -> Result<(OperatorKey, TokenSource), String> {
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        if token.trim().len() < MIN_TOKEN_LEN {
            return Err(format!(
                "{TOKEN_ENV} is shorter than {MIN_TOKEN_LEN} characters; use a long random value"
            ));
        }
        return Ok((OperatorKey::from_token(&token), TokenSource::Env));
    }
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(token) if token.trim().len() >= MIN_TOKEN_LEN => {
            return Ok((OperatorKey::from_token(&token), TokenSource::File(path)));
        }
        Ok(_) => {
            return Err(format!(
                "{} is too short to be a token; delete it to make a new one",
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| format!("no randomness available for the operator token: {e}"))?;
    let token = format!("pso_{}", hex::encode(bytes));
    // Write the whole token to a private temporary file, then link it into place: another
    // process sharing this directory sees either no file or a complete one, and if it won the
    // race we use its token.
    let tmp = data_dir.join(format!(".{TOKEN_FILE}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &token).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok((OperatorKey::from_token(&token), TokenSource::File(path))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let theirs = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if theirs.trim().len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "{} is too short to be a token; delete it to make a new one",
                    path.display()
                ));
            }
            Ok((OperatorKey::from_token(&theirs), TokenSource::File(path)))
        }
        Err(e) => Err(format!("cannot write {}: {e}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
