//! The vault's key-encryption keys (KEKs), kept outside the database, and the sealed records
//! inside it.
//!
//! The keyring is a 0600 file in the data directory (`vault-keys.json`, created on first
//! start), or `PURSER_VAULT_KEY` (one base64 key; cannot be rotated in place). Every secret
//! Purser stores — card numbers, card-verification values, its own signing keys, the card
//! fingerprint key — is a row of `vault_records`, sealed under a fresh data key wrapped by the
//! active KEK, with the row id as associated data (a ciphertext moved to another row fails to
//! open).
//!
//! Rotation ([`Wallet::rotate_vault`]) runs while the server serves: the new keyring is
//! written to disk *before* any record is re-wrapped (a crash leaves both keys on file), every
//! record is re-wrapped in pages, and retired keys can then be destroyed
//! ([`Wallet::destroy_retired_keys`]) once no record uses them.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use aws_lc_rs::rand::SystemRandom;
use purser_core::secret::SecretBytes;
use purser_core::vault::{self, KekId, Keyring, SealedRecord, VaultError};
use purser_core::Timestamp;
use purser_store::db::{Expect, Stmt};
use purser_store::vals;
use serde::Serialize;

use crate::error::{Kind, Result, WalletError};
use crate::Wallet;

/// Key file name inside the data directory.
pub const KEY_FILE: &str = "vault-keys.json";

/// Environment variable that supplies the KEK instead of the file.
pub const KEY_ENV: &str = "PURSER_VAULT_KEY";

/// Records re-wrapped per page during rotation: small pages keep each write short, so
/// requests served meanwhile are not held up.
const REWRAP_PAGE: i64 = 200;

/// Where the keyring lives.
#[derive(Clone, Debug)]
pub enum KeySource {
    File(PathBuf),
    Env,
}

pub(crate) struct VaultKeys {
    keyring: RwLock<Keyring>,
    source: KeySource,
    /// One rotation at a time.
    rotating: tokio::sync::Mutex<()>,
}

fn vault_err(e: VaultError) -> WalletError {
    tracing::error!(error = %e, "vault");
    WalletError::new(
        Kind::Unavailable,
        "vault_error",
        format!(
            "the card vault could not do this ({}); the operator can find details in the log",
            e.code()
        ),
    )
}

fn lock_err() -> WalletError {
    WalletError::new(
        Kind::Unavailable,
        "internal_error",
        "the vault key lock is poisoned; restart Purser",
    )
}

impl VaultKeys {
    /// Load the keyring from `PURSER_VAULT_KEY` or the key file, creating the file with a
    /// fresh key on first start.
    pub(crate) fn load(data_dir: &Path, now: Timestamp) -> std::result::Result<VaultKeys, String> {
        let (keyring, source) = if let Ok(v) = std::env::var(KEY_ENV) {
            (
                Keyring::from_env_value(&v).map_err(|e| e.to_string())?,
                KeySource::Env,
            )
        } else {
            let path = data_dir.join(KEY_FILE);
            match std::fs::read_to_string(&path) {
                Ok(text) => (
                    Keyring::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?,
                    KeySource::File(path),
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let k =
                        Keyring::generate(&SystemRandom::new(), now).map_err(|e| e.to_string())?;
                    write_new(&path, k.to_text().expose().as_bytes())?;
                    (k, KeySource::File(path))
                }
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        };
        Ok(VaultKeys {
            keyring: RwLock::new(keyring),
            source,
            rotating: tokio::sync::Mutex::new(()),
        })
    }

    /// Re-read the key file if another node rotated it (nodes on one database share the
    /// file): picks up a new active key and drops destroyed ones. Returns whether it changed.
    pub(crate) fn reload(&self) -> bool {
        let KeySource::File(path) = &self.source else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return false;
        };
        let Ok(fresh) = Keyring::parse(&text) else {
            tracing::warn!(file = %path.display(), "the vault key file does not parse; keeping the keys in memory");
            return false;
        };
        let Ok(mut current) = self.keyring.write() else {
            return false;
        };
        let same = current.active_id() == fresh.active_id()
            && current
                .ids()
                .map(|k| k.as_str().to_string())
                .collect::<Vec<_>>()
                == fresh
                    .ids()
                    .map(|k| k.as_str().to_string())
                    .collect::<Vec<_>>();
        if same {
            return false;
        }
        // The file is the truth shared by the nodes: rotation writes it before re-wrapping,
        // and destroy-retired only drops keys no record uses.
        tracing::info!(active = %fresh.active_id().as_str(), "vault key file changed; keys reloaded");
        *current = fresh;
        true
    }

    pub(crate) fn source(&self) -> &KeySource {
        &self.source
    }

    fn snapshot(&self) -> Result<Keyring> {
        self.keyring
            .read()
            .map(|k| k.clone())
            .map_err(|_| lock_err())
    }
}

/// Create `path` (0600) with `contents`, durably, failing if it exists.
fn write_new(path: &Path, contents: &[u8]) -> std::result::Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Replace `path` atomically and durably (write a temporary file, fsync, rename, fsync the
/// directory): a crash leaves the old file or the new one, never half of either.
fn replace_file(path: &Path, contents: &[u8]) -> std::result::Result<(), String> {
    let tmp = path.with_extension("json.new");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, contents)?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct VaultStatus {
    /// `file` (with its path) or `environment`.
    pub key_source: String,
    pub active_key: String,
    pub keys: Vec<VaultKeyUse>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VaultKeyUse {
    pub id: String,
    pub active: bool,
    /// Sealed records still wrapped by this key; a retired key can be destroyed at 0.
    pub records: i64,
}

impl Wallet {
    /// A statement that stores `plaintext` sealed as vault record `id`.
    pub(crate) fn seal_record(&self, id: &str, plaintext: &[u8]) -> Result<Stmt> {
        let keyring = self.vault.snapshot()?;
        let sealed = vault::seal(
            keyring.active(),
            plaintext,
            id.as_bytes(),
            &SystemRandom::new(),
        )
        .map_err(vault_err)?;
        Ok(Stmt::exec(
            "INSERT INTO vault_records (id, kek_id, wrapped_dek, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5)",
            vals![id, sealed.kek_id.as_str(), sealed.wrapped_dek, sealed.ciphertext, self.now().0],
        ))
    }

    /// Open vault record `id`. Only the rail adapter and Purser's own signing ever need this.
    pub(crate) async fn open_record(&self, id: &str) -> Result<SecretBytes> {
        let row = self
            .db
            .query_opt(
                "SELECT kek_id, wrapped_dek, ciphertext FROM vault_records WHERE id = $1",
                vals![id],
            )
            .await?
            .ok_or_else(|| {
                WalletError::new(
                    Kind::NotFound,
                    "vault_record_missing",
                    "a sealed record is missing",
                )
            })?;
        let record = SealedRecord {
            kek_id: KekId::parse(&row.text(0)?).ok_or_else(|| {
                purser_store::StoreError::Corrupt("a vault record names an invalid key id".into())
            })?,
            wrapped_dek: row.bytes(1)?,
            ciphertext: row.bytes(2)?,
        };
        let keyring = self.vault.snapshot()?;
        match vault::open(&keyring, &record, id.as_bytes()) {
            Err(VaultError::KekUnknown { .. }) if self.vault.reload() => {
                let keyring = self.vault.snapshot()?;
                vault::open(&keyring, &record, id.as_bytes()).map_err(vault_err)
            }
            r => r.map_err(vault_err),
        }
    }

    /// Pick up a key file another node rotated (called by the sweeper).
    pub(crate) fn reload_vault_keys(&self) {
        self.vault.reload();
    }

    pub async fn vault_status(&self) -> Result<VaultStatus> {
        let keyring = self.vault.snapshot()?;
        let mut keys = Vec::new();
        for id in keyring.ids() {
            let n = self
                .db
                .query_opt(
                    "SELECT COUNT(*) FROM vault_records WHERE kek_id = $1",
                    vals![id.as_str()],
                )
                .await?
                .map_or(Ok(0), |r| r.int(0))?;
            keys.push(VaultKeyUse {
                id: id.as_str().to_string(),
                active: id == keyring.active_id(),
                records: n,
            });
        }
        Ok(VaultStatus {
            key_source: match self.vault.source() {
                KeySource::File(p) => format!("file {}", p.display()),
                KeySource::Env => format!("environment ({KEY_ENV})"),
            },
            active_key: keyring.active_id().as_str().to_string(),
            keys,
        })
    }

    /// Make a new active KEK and re-wrap every record's data key with it.
    pub async fn rotate_vault(&self) -> Result<VaultStatus> {
        let path = match self.vault.source() {
            KeySource::File(p) => p.clone(),
            KeySource::Env => {
                return Err(WalletError::conflict(
                    "vault_key_from_environment",
                    format!("the vault key comes from {KEY_ENV}, which Purser cannot rewrite; unset it to use the key file, or rotate by changing the variable and restarting"),
                ))
            }
        };
        let _one = self.vault.rotating.lock().await;
        let mut next = self.vault.snapshot()?;
        let now = self.now();
        next.rotate(&SystemRandom::new(), now).map_err(vault_err)?;
        // On disk first: from here on a crash leaves a file that opens every record.
        replace_file(&path, next.to_text().expose().as_bytes()).map_err(|e| {
            tracing::error!(error = %e, "vault key file");
            WalletError::new(
                Kind::Unavailable,
                "vault_key_file",
                "cannot write the new vault key file; nothing was rotated",
            )
        })?;
        *self.vault.keyring.write().map_err(|_| lock_err())? = next.clone();
        let active = next.active_id().as_str().to_string();
        loop {
            let page = self
                .db
                .query(
                    "SELECT id, kek_id, wrapped_dek, ciphertext FROM vault_records WHERE kek_id <> $1 ORDER BY id LIMIT $2",
                    vals![&active, REWRAP_PAGE],
                )
                .await?;
            if page.is_empty() {
                break;
            }
            let mut stmts = Vec::with_capacity(page.len());
            for r in &page {
                let id = r.text(0)?;
                let old = r.text(1)?;
                let record = SealedRecord {
                    kek_id: KekId::parse(&old).ok_or_else(|| {
                        purser_store::StoreError::Corrupt(
                            "a vault record names an invalid key id".into(),
                        )
                    })?,
                    wrapped_dek: r.bytes(2)?,
                    ciphertext: r.bytes(3)?,
                };
                let new = vault::rewrap(
                    &next,
                    &record,
                    next.active(),
                    id.as_bytes(),
                    &SystemRandom::new(),
                )
                .map_err(vault_err)?;
                // Only if untouched meanwhile (a record deleted or re-sealed is skipped).
                stmts.push(Stmt::exec(
                    "UPDATE vault_records SET kek_id = $2, wrapped_dek = $3 WHERE id = $1 AND kek_id = $4",
                    vals![&id, &active, new.wrapped_dek, &old],
                ));
            }
            self.db.write(stmts).await?;
        }
        tracing::info!(key = %active, "vault key rotated; every record re-wrapped");
        self.vault_status().await
    }

    /// Remove from the key file every retired KEK that no record uses any more.
    pub async fn destroy_retired_keys(&self) -> Result<(VaultStatus, Vec<String>)> {
        let KeySource::File(path) = self.vault.source().clone() else {
            return Err(WalletError::conflict(
                "vault_key_from_environment",
                format!("the vault key comes from {KEY_ENV}; there are no retired keys on file"),
            ));
        };
        let _one = self.vault.rotating.lock().await;
        // Retiring deletes keys: a row that cannot be read fails the retirement rather than
        // counting its key as unused. (An id that does not parse names no key on file.)
        let used = self
            .db
            .query("SELECT DISTINCT kek_id FROM vault_records", vec![])
            .await?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .filter_map(|s| KekId::parse(s))
            .collect::<Vec<_>>();
        let mut next = self.vault.snapshot()?;
        let gone = next.retire_unused(&used);
        if !gone.is_empty() {
            replace_file(&path, next.to_text().expose().as_bytes()).map_err(|e| {
                tracing::error!(error = %e, "vault key file");
                WalletError::new(
                    Kind::Unavailable,
                    "vault_key_file",
                    "cannot write the vault key file; no key was destroyed",
                )
            })?;
            *self.vault.keyring.write().map_err(|_| lock_err())? = next;
        }
        Ok((
            self.vault_status().await?,
            gone.iter().map(|k| k.as_str().to_string()).collect(),
        ))
    }

    /// Delete a vault record (a spent card-verification value). SQLite's `secure_delete`
    /// overwrites its bytes on disk.
    pub(crate) fn delete_record(id: &str) -> Stmt {
        Stmt::exec("DELETE FROM vault_records WHERE id = $1", vals![id])
    }

    pub(crate) async fn ensure_record(
        &self,
        id: &str,
        make: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<SecretBytes> {
        match self.open_record(id).await {
            Ok(s) => Ok(s),
            Err(e) if e.code == "vault_record_missing" => {
                let bytes = make()?;
                let stmt = self.seal_record(id, &bytes)?;
                // Two nodes racing: the loser's insert conflicts; both then read the winner's.
                let mut stmt = stmt;
                stmt.sql = "INSERT INTO vault_records (id, kek_id, wrapped_dek, ciphertext, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
                self.db.write(vec![stmt.expect(Expect::Any, "")]).await?;
                self.open_record(id).await
            }
            Err(e) => Err(e),
        }
    }
}
