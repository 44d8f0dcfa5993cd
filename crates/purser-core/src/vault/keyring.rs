//! The set of key-encryption keys: one active key that seals, older keys kept to open old
//! records until they are rewrapped.

use super::{Kek, KekId, VaultError};
use crate::secret::SecretString;
use crate::Timestamp;
use aws_lc_rs::rand::SecureRandom;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Keys a keyring may hold. Each rotation adds one and retiring removes those no record uses;
/// more than 64 live keys means rotations without rewrapping, which this refuses to hide.
pub const MAX_KEYRING_KEYS: usize = 64;

/// Largest key file read. A full keyring is about 8 KiB; anything far bigger is not a key file.
pub const MAX_KEYRING_TEXT_LEN: usize = 64 * 1024;

/// The `version` written to key files. Files without a version are read as version 1.
const KEYRING_FORMAT_VERSION: u64 = 1;

/// Field names longer than this are not echoed in errors: a long unknown "name" may be a key
/// pasted in the wrong place.
const MAX_ECHOED_FIELD_LEN: usize = 24;

/// Standard base64 alphabet, padding optional: `openssl rand -base64 32` pads, some tools don't.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(Clone)]
struct Entry {
    kek: Kek,
    /// When the key was made; `None` for a key imported from `PURSER_VAULT_KEY`.
    created_at: Option<Timestamp>,
}

/// The vault's keys. New records are sealed with [`active`](Self::active); every key a stored
/// record names must stay in the keyring until the record is rewrapped.
///
/// The key file format ([`parse`](Self::parse) / [`to_text`](Self::to_text)):
///
/// ```json
/// {
///   "version": 1,
///   "active": "kek_5c0e3f4b1a2d9e87",
///   "keys": [
///     {"id": "kek_0a1b2c3d4e5f6071", "key": "<32 bytes, base64>", "created_at": 1764000000000},
///     {"id": "kek_5c0e3f4b1a2d9e87", "key": "<32 bytes, base64>", "created_at": 1795253400000}
///   ]
/// }
/// ```
///
/// `created_at` is milliseconds since the Unix epoch, or `null`. Each `id` must be the one the
/// key bytes derive ([`KekId`]), which catches a key altered in the file at load time.
#[derive(Clone)]
pub struct Keyring {
    active: Entry,
    /// Older keys, oldest first.
    previous: Vec<Entry>,
}

impl Keyring {
    /// A keyring holding one key.
    pub fn new(kek: Kek, created_at: Option<Timestamp>) -> Keyring {
        Keyring {
            active: Entry { kek, created_at },
            previous: Vec::new(),
        }
    }

    /// A keyring with one fresh random key, for a first start.
    pub fn generate(rng: &dyn SecureRandom, now: Timestamp) -> Result<Keyring, VaultError> {
        Ok(Keyring::new(Kek::generate(rng)?, Some(now)))
    }

    /// A one-key keyring from a single base64-encoded 32-byte key, as given in
    /// `PURSER_VAULT_KEY` (make one with `openssl rand -base64 32`). Such a keyring cannot be
    /// rotated in place; write it out with [`to_text`](Self::to_text) to move to a key file.
    pub fn from_env_value(value: &str) -> Result<Keyring, VaultError> {
        let value = value.trim();
        let hint =
            "set it to 32 random bytes in base64, e.g. the output of `openssl rand -base64 32`";
        if value.is_empty() {
            return Err(VaultError::KeyInvalid(format!(
                "the vault key (PURSER_VAULT_KEY) is empty; {hint}"
            )));
        }
        let bytes = LENIENT_BASE64
            .decode(value)
            .map(Zeroizing::new)
            .map_err(|_| {
                VaultError::KeyInvalid(format!(
                    "the vault key (PURSER_VAULT_KEY) is not base64; {hint}"
                ))
            })?;
        let kek = Kek::from_slice(&bytes).map_err(|_| {
            VaultError::KeyInvalid(format!(
                "the vault key (PURSER_VAULT_KEY) decodes to {} bytes, not 32; {hint}",
                bytes.len()
            ))
        })?;
        Ok(Keyring::new(kek, None))
    }

    /// Read a key file (format in the type's docs). Errors never contain key material.
    pub fn parse(text: &str) -> Result<Keyring, VaultError> {
        if text.len() > MAX_KEYRING_TEXT_LEN {
            return Err(invalid(format!(
                "it is {} bytes; a key file is at most {MAX_KEYRING_TEXT_LEN}",
                text.len()
            )));
        }
        // serde_json's messages can quote the input, so only its position is reported.
        let mut value: Value = serde_json::from_str(text).map_err(|e| {
            invalid(format!(
                "it is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let keyring = from_value(&value);
        zeroize_strings(&mut value);
        keyring
    }

    /// The key file text. A secret: it holds every key.
    pub fn to_text(&self) -> SecretString {
        let count = self.len();
        // Sized up front so the buffer never reallocates (a reallocation would leave an
        // unzeroized copy of key material behind): ~130 bytes per key line, plus the header.
        let mut out = Zeroizing::new(String::with_capacity(128 + count * 192));
        out.push_str("{\n  \"version\": 1,\n  \"active\": \"");
        out.push_str(self.active.kek.id().as_str());
        out.push_str("\",\n  \"keys\": [\n");
        for (i, entry) in self.entries().enumerate() {
            let mut key = Zeroizing::new(String::with_capacity(48));
            STANDARD.encode_string(entry.kek.key_bytes(), &mut key);
            out.push_str("    {\"id\": \"");
            out.push_str(entry.kek.id().as_str());
            out.push_str("\", \"key\": \"");
            out.push_str(&key);
            out.push_str("\", \"created_at\": ");
            match entry.created_at {
                Some(t) => out.push_str(&t.millis().to_string()),
                None => out.push_str("null"),
            }
            out.push_str(if i + 1 < count { "},\n" } else { "}\n" });
        }
        out.push_str("  ]\n}\n");
        SecretString::new(std::mem::take(&mut *out))
    }

    /// The key new records are sealed with.
    pub fn active(&self) -> &Kek {
        &self.active.kek
    }

    pub fn active_id(&self) -> &KekId {
        self.active.kek.id()
    }

    /// The key with this id, active or not.
    pub fn get(&self, id: &KekId) -> Option<&Kek> {
        self.entries().map(|e| &e.kek).find(|k| k.id() == id)
    }

    /// When the key was created, if known.
    pub fn created_at(&self, id: &KekId) -> Option<Timestamp> {
        self.entries()
            .find(|e| e.kek.id() == id)
            .and_then(|e| e.created_at)
    }

    /// Every key id, oldest first; the active key is last.
    pub fn ids(&self) -> impl Iterator<Item = &KekId> {
        self.entries().map(|e| e.kek.id())
    }

    /// Number of keys (at least one).
    pub fn len(&self) -> usize {
        self.previous.len() + 1
    }

    /// Always false: a keyring has an active key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Add a fresh key and make it active; older keys stay so their records still open.
    /// Follow with [`rewrap`](super::rewrap) of each record, then
    /// [`retire_unused`](Self::retire_unused).
    pub fn rotate(&mut self, rng: &dyn SecureRandom, now: Timestamp) -> Result<KekId, VaultError> {
        if self.len() >= MAX_KEYRING_KEYS {
            return Err(VaultError::KeyringFull);
        }
        let kek = Kek::generate(rng)?;
        if self.get(kek.id()).is_some() {
            // Two random 256-bit keys with the same 64-bit id: the generator is broken.
            return Err(VaultError::Random);
        }
        let id = kek.id().clone();
        let old = std::mem::replace(
            &mut self.active,
            Entry {
                kek,
                created_at: Some(now),
            },
        );
        self.previous.push(old);
        Ok(id)
    }

    /// Drop every non-active key that no record uses (`used_ids`: the distinct `kek_id`s in
    /// the store). Returns the dropped ids. The active key is always kept.
    pub fn retire_unused(&mut self, used_ids: &[KekId]) -> Vec<KekId> {
        let mut retired = Vec::new();
        self.previous.retain(|e| {
            let keep = used_ids.contains(e.kek.id());
            if !keep {
                retired.push(e.kek.id().clone());
            }
            keep
        });
        retired
    }

    fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.previous.iter().chain(std::iter::once(&self.active))
    }
}

/// `Keyring { active: kek_…, keys: [kek_…, …] }`: ids only.
impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("active", self.active_id())
            .field("keys", &self.ids().collect::<Vec<_>>())
            .finish()
    }
}

fn invalid(why: String) -> VaultError {
    VaultError::KeyringInvalid(why)
}

fn from_value(value: &Value) -> Result<Keyring, VaultError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid("it must be a JSON object with \"active\" and \"keys\"".to_owned())
    })?;
    reject_unknown_fields(obj, &["version", "active", "keys"], "the key file")?;
    match obj.get("version") {
        None => {}
        Some(v) if v.as_u64() == Some(KEYRING_FORMAT_VERSION) => {}
        Some(_) => {
            return Err(invalid(format!(
                "\"version\" must be {KEYRING_FORMAT_VERSION}; this Purser reads only that format"
            )))
        }
    }
    let active = obj
        .get("active")
        .and_then(Value::as_str)
        .and_then(KekId::parse)
        .ok_or_else(|| {
            invalid("\"active\" must be a key id like \"kek_0123456789abcdef\"".to_owned())
        })?;
    let keys = obj
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("\"keys\" must be a list of keys".to_owned()))?;
    if keys.is_empty() || keys.len() > MAX_KEYRING_KEYS {
        return Err(invalid(format!(
            "\"keys\" lists {} keys; a key file holds 1 to {MAX_KEYRING_KEYS}",
            keys.len()
        )));
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(keys.len());
    for (i, value) in keys.iter().enumerate() {
        let entry = entry_from_value(i + 1, value)?;
        if entries.iter().any(|e| e.kek.id() == entry.kek.id()) {
            return Err(invalid(format!(
                "key {} ({}) is listed twice",
                i + 1,
                entry.kek.id()
            )));
        }
        entries.push(entry);
    }
    let position = entries
        .iter()
        .position(|e| e.kek.id() == &active)
        .ok_or_else(|| invalid(format!("the active key {active} is not among \"keys\"")))?;
    let active = entries.remove(position);
    Ok(Keyring {
        active,
        previous: entries,
    })
}

fn entry_from_value(n: usize, value: &Value) -> Result<Entry, VaultError> {
    let obj = value.as_object().ok_or_else(|| {
        invalid(format!(
            "key {n} must be an object with \"id\", \"key\" and \"created_at\""
        ))
    })?;
    let what = format!("key {n}");
    reject_unknown_fields(obj, &["id", "key", "created_at"], &what)?;
    let id = obj
        .get("id")
        .and_then(Value::as_str)
        .and_then(KekId::parse)
        .ok_or_else(|| {
            invalid(format!(
                "key {n} needs an \"id\" like \"kek_0123456789abcdef\""
            ))
        })?;
    let encoded = obj.get("key").and_then(Value::as_str).ok_or_else(|| {
        invalid(format!(
            "key {n} ({id}) needs a \"key\": 32 bytes in base64"
        ))
    })?;
    let bytes = LENIENT_BASE64
        .decode(encoded.trim())
        .map(Zeroizing::new)
        .map_err(|_| invalid(format!("key {n} ({id}): \"key\" is not base64")))?;
    let kek = Kek::from_slice(&bytes).map_err(|_| {
        invalid(format!(
            "key {n} ({id}): \"key\" decodes to {} bytes; a vault key is 32",
            bytes.len()
        ))
    })?;
    if kek.id() != &id {
        return Err(invalid(format!(
            "key {n}: the key bytes belong to {}, not {id}; the key was altered or pasted under the wrong id",
            kek.id()
        )));
    }
    let created_at = match obj.get("created_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(Timestamp(v.as_i64().ok_or_else(|| {
            invalid(format!(
                "key {n} ({id}): \"created_at\" must be milliseconds since 1970 or null"
            ))
        })?)),
    };
    Ok(Entry { kek, created_at })
}

fn reject_unknown_fields(
    obj: &serde_json::Map<String, Value>,
    known: &[&str],
    what: &str,
) -> Result<(), VaultError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(field)
            if field.len() <= MAX_ECHOED_FIELD_LEN && !field.chars().any(char::is_control) =>
        {
            Err(invalid(format!(
                "{what} has an unknown field \"{field}\"; the fields are {}",
                known.join(", ")
            )))
        }
        Some(_) => Err(invalid(format!(
            "{what} has an unknown field; the fields are {}",
            known.join(", ")
        ))),
    }
}

/// Best-effort wipe of the parsed document's strings (the keys' base64).
fn zeroize_strings(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(zeroize_strings),
        Value::Object(map) => map.values_mut().for_each(zeroize_strings),
        _ => {}
    }
}
