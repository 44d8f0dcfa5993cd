//! Vault behaviour: round trips, every tampering fails cleanly, rotation, key files.

use super::*;
use crate::Timestamp;
use aws_lc_rs::rand::SystemRandom;
use proptest::prelude::*;

const AAD: &[u8] = b"card_01J9Z3";
const PAN: &[u8] = b"4242424242424242";
const NOW: Timestamp = Timestamp(1_795_253_400_000);

fn rng() -> SystemRandom {
    SystemRandom::new()
}

fn keyring() -> Keyring {
    Keyring::generate(&rng(), NOW).unwrap()
}

#[test]
fn seal_then_open_round_trips() {
    let ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    assert_eq!(&record.kek_id, ring.active_id());
    assert_eq!(record.wrapped_dek.len(), WRAPPED_DEK_LEN);
    assert_eq!(record.ciphertext.len(), PAN.len() + 28);
    assert_eq!(open(&ring, &record, AAD).unwrap().expose(), PAN);
    // Empty plaintext and empty AAD are fine too.
    let empty = seal(ring.active(), b"", b"", &rng()).unwrap();
    assert!(open(&ring, &empty, b"").unwrap().expose().is_empty());
}

#[test]
fn opens_a_record_sealed_by_an_independent_implementation() {
    // Built with Python's `cryptography` AESGCM: KEK = bytes 0..32, DEK = 32 × 0x42, data
    // nonce 12 × 0x01, wrap nonce 12 × 0x02, AADs as documented in envelope.rs.
    let kek = Kek::from_slice(&(0u8..32).collect::<Vec<_>>()).unwrap();
    assert_eq!(kek.id().as_str(), "kek_58fb7e3e5ad940fc");
    let record = SealedRecord {
        kek_id: kek.id().clone(),
        wrapped_dek: hex::decode("020202020202020202020202d96a5bf9fb9b731989c7e0ba713b98515eabed2ed6163ab3001c934135290b808ef7e4ad6953d7c75dd62374f1db87c8").unwrap(),
        ciphertext: hex::decode("010101010101010101010101199b8235a066b5ffeb64ddfed3258ff977fb9578c6ef1e4d7672c3a1a3321571").unwrap(),
    };
    let ring = Keyring::new(kek, None);
    assert_eq!(open(&ring, &record, b"card_123").unwrap().expose(), PAN);
}

#[test]
fn same_plaintext_seals_differently() {
    let ring = keyring();
    let a = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    let b = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    assert_ne!(a.ciphertext, b.ciphertext);
    assert_ne!(a.wrapped_dek, b.wrapped_dek);
}

#[test]
fn every_flipped_bit_of_the_ciphertext_is_caught() {
    let ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    for i in 0..record.ciphertext.len() {
        let mut bad = record.clone();
        bad.ciphertext[i] ^= 0x01;
        assert_eq!(
            open(&ring, &bad, AAD).unwrap_err(),
            VaultError::DecryptFailed,
            "byte {i}"
        );
    }
}

#[test]
fn every_flipped_bit_of_the_wrapped_key_is_caught() {
    let ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    for i in 0..record.wrapped_dek.len() {
        let mut bad = record.clone();
        bad.wrapped_dek[i] ^= 0x80;
        let err = open(&ring, &bad, AAD).unwrap_err();
        assert_eq!(err.code(), "vault_unwrap_failed", "byte {i}");
    }
}

#[test]
fn a_record_moved_to_another_row_does_not_open() {
    let ring = keyring();
    let a = seal(ring.active(), PAN, b"card_a", &rng()).unwrap();
    let b = seal(ring.active(), b"5555555555554444", b"card_b", &rng()).unwrap();
    // Whole record under the other row's AAD.
    assert_eq!(
        open(&ring, &a, b"card_b").unwrap_err().code(),
        "vault_unwrap_failed"
    );
    // Only the data swapped: the key unwraps, the data does not authenticate.
    let swapped = SealedRecord {
        ciphertext: b.ciphertext.clone(),
        ..a.clone()
    };
    assert_eq!(
        open(&ring, &swapped, b"card_a").unwrap_err(),
        VaultError::DecryptFailed
    );
}

#[test]
fn unknown_and_wrong_keys_fail_cleanly() {
    let ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    let other = keyring();
    assert_eq!(
        open(&other, &record, AAD).unwrap_err(),
        VaultError::KekUnknown {
            kek_id: record.kek_id.clone()
        }
    );
    // A record relabelled with another key the keyring holds.
    let mut both = ring.clone();
    let new_id = both.rotate(&rng(), NOW).unwrap();
    let relabelled = SealedRecord {
        kek_id: new_id.clone(),
        ..record.clone()
    };
    assert_eq!(
        open(&both, &relabelled, AAD).unwrap_err(),
        VaultError::UnwrapFailed { kek_id: new_id }
    );
}

#[test]
fn malformed_records_are_reported_not_decrypted() {
    let ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    let mut short_key = record.clone();
    short_key.wrapped_dek.pop();
    assert_eq!(
        open(&ring, &short_key, AAD).unwrap_err().code(),
        "vault_record_malformed"
    );
    let mut short_data = record.clone();
    short_data.ciphertext.truncate(27);
    assert_eq!(
        open(&ring, &short_data, AAD).unwrap_err().code(),
        "vault_record_malformed"
    );
}

#[test]
fn rewrap_moves_to_the_new_key_and_keeps_the_data() {
    let mut ring = keyring();
    let old_id = ring.active_id().clone();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    let new_id = ring.rotate(&rng(), NOW).unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(ring.len(), 2);
    // The old record still opens after rotation.
    assert_eq!(open(&ring, &record, AAD).unwrap().expose(), PAN);
    let moved = rewrap(&ring, &record, ring.active(), AAD, &rng()).unwrap();
    assert_eq!(moved.kek_id, new_id);
    assert_eq!(moved.ciphertext, record.ciphertext);
    assert_ne!(moved.wrapped_dek, record.wrapped_dek);

    // Nothing uses the old key any more: retire it, then only the new key remains.
    assert_eq!(
        ring.retire_unused(std::slice::from_ref(&moved.kek_id)),
        vec![old_id.clone()]
    );
    assert_eq!(
        ring.ids().cloned().collect::<Vec<_>>(),
        vec![new_id.clone()]
    );
    assert_eq!(open(&ring, &moved, AAD).unwrap().expose(), PAN);
    assert_eq!(
        open(&ring, &record, AAD).unwrap_err(),
        VaultError::KekUnknown { kek_id: old_id }
    );
    // Rewrap also needs the right AAD.
    assert_eq!(
        rewrap(&ring, &moved, ring.active(), b"other", &rng())
            .unwrap_err()
            .code(),
        "vault_unwrap_failed"
    );
}

#[test]
fn retire_keeps_the_active_key_and_keys_in_use() {
    let mut ring = keyring();
    let first = ring.active_id().clone();
    let second = ring.rotate(&rng(), NOW).unwrap();
    let third = ring.rotate(&rng(), NOW).unwrap();
    assert_eq!(ring.retire_unused(&[first.clone()]), vec![second]);
    assert_eq!(
        ring.ids().cloned().collect::<Vec<_>>(),
        vec![first.clone(), third.clone()]
    );
    assert_eq!(ring.retire_unused(&[]), vec![first]);
    assert_eq!(ring.active_id(), &third);
    assert_eq!(ring.retire_unused(&[]), Vec::<KekId>::new());
    assert_eq!(ring.len(), 1);
}

#[test]
fn rotation_is_bounded() {
    let mut ring = keyring();
    for _ in 1..MAX_KEYRING_KEYS {
        ring.rotate(&rng(), NOW).unwrap();
    }
    assert_eq!(ring.len(), MAX_KEYRING_KEYS);
    assert_eq!(
        ring.rotate(&rng(), NOW).unwrap_err(),
        VaultError::KeyringFull
    );
}

#[test]
fn limits_are_enforced() {
    let ring = keyring();
    let big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert_eq!(
        seal(ring.active(), &big, AAD, &rng()).unwrap_err().code(),
        "vault_too_large"
    );
    assert!(seal(ring.active(), &big[1..], AAD, &rng()).is_ok());
    let aad = vec![0u8; MAX_AAD_LEN + 1];
    assert_eq!(
        seal(ring.active(), PAN, &aad, &rng()).unwrap_err().code(),
        "vault_too_large"
    );
}

#[test]
fn record_bytes_and_json_round_trip() {
    let ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    let bytes = record.to_bytes();
    assert_eq!(bytes[0], 1);
    assert_eq!(SealedRecord::from_bytes(&bytes).unwrap(), record);
    let json = serde_json::to_string(&record).unwrap();
    assert!(json.starts_with(&format!(
        "{{\"kek_id\":\"{}\",\"wrapped_dek\":\"",
        record.kek_id
    )));
    assert_eq!(serde_json::from_str::<SealedRecord>(&json).unwrap(), record);
    for bad in [
        &[][..],
        &[2u8][..],
        &bytes[..bytes.len() - 29],
        &bytes[..21],
    ] {
        assert_eq!(
            SealedRecord::from_bytes(bad).unwrap_err().code(),
            "vault_record_malformed"
        );
    }
    let mut bad_id = bytes.clone();
    bad_id[2] = b'K';
    assert_eq!(
        SealedRecord::from_bytes(&bad_id).unwrap_err().code(),
        "vault_record_malformed"
    );
    let debug = format!("{record:?}");
    assert!(
        debug.contains("60 bytes") && debug.contains(record.kek_id.as_str()),
        "{debug}"
    );
}

#[test]
fn key_file_round_trips() {
    let mut ring = keyring();
    let record = seal(ring.active(), PAN, AAD, &rng()).unwrap();
    ring.rotate(&rng(), Timestamp(NOW.0 + 1)).unwrap();
    let text = ring.to_text();
    let parsed = Keyring::parse(text.expose()).unwrap();
    assert_eq!(parsed.active_id(), ring.active_id());
    assert_eq!(
        parsed.ids().collect::<Vec<_>>(),
        ring.ids().collect::<Vec<_>>()
    );
    assert_eq!(
        parsed.created_at(ring.active_id()),
        Some(Timestamp(NOW.0 + 1))
    );
    assert_eq!(open(&parsed, &record, AAD).unwrap().expose(), PAN);
    assert_eq!(parsed.to_text().expose(), text.expose());
    // It is JSON any tool can read.
    let v: serde_json::Value = serde_json::from_str(text.expose()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
}

fn key_file(active: &str, keys: &str) -> String {
    format!(r#"{{"version":1,"active":"{active}","keys":[{keys}]}}"#)
}

#[test]
fn key_file_mistakes_are_named_without_key_material() {
    let kek = Kek::from_slice(&[9u8; 32]).unwrap();
    let id = kek.id().as_str().to_owned();
    let b64 = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
    let entry = format!(r#"{{"id":"{id}","key":"{b64}","created_at":null}}"#);
    assert!(Keyring::parse(&key_file(&id, &entry)).is_ok());
    let other_id = Kek::from_slice(&[8u8; 32])
        .unwrap()
        .id()
        .as_str()
        .to_owned();
    let cases = [
        ("not json".to_owned(), "not valid JSON"),
        ("[]".to_owned(), "JSON object"),
        (key_file(&id, ""), "1 to 64"),
        (key_file("kek_x", &entry), "\"active\""),
        (key_file(&other_id, &entry), "not among"),
        (key_file(&id, &format!("{entry},{entry}")), "listed twice"),
        (key_file(&id, &entry.replace(&id, &other_id)), "altered"),
        (
            key_file(&id, &entry.replace(b64, "not base64!")),
            "not base64",
        ),
        (
            key_file(&id, &entry.replace(b64, "CQkJ")),
            "decodes to 3 bytes",
        ),
        (
            key_file(&id, &entry.replace("created_at", "created")),
            "unknown field \"created\"",
        ),
        (
            key_file(&id, &entry.replace("null", "\"yesterday\"")),
            "created_at",
        ),
        (
            key_file(&id, &entry.replace("\"key\"", &format!("\"{b64}\""))),
            "unknown field;",
        ),
        (
            format!(r#"{{"version":2,"active":"{id}","keys":[{entry}]}}"#),
            "\"version\" must be 1",
        ),
    ];
    for (text, want) in cases {
        let err = Keyring::parse(&text).unwrap_err();
        let msg = err.to_string();
        assert_eq!(err.code(), "vault_keyring_invalid", "{msg}");
        assert!(msg.contains(want), "{msg:?} should mention {want:?}");
        assert!(!msg.contains("CQkJ"), "{msg}");
    }
    let huge = " ".repeat(MAX_KEYRING_TEXT_LEN + 1);
    assert!(Keyring::parse(&huge)
        .unwrap_err()
        .to_string()
        .contains("at most"));
}

#[test]
fn env_key_is_one_stable_key() {
    let padded = "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=";
    let a = Keyring::from_env_value(padded).unwrap();
    let b = Keyring::from_env_value(&format!("  {}\n", padded.trim_end_matches('='))).unwrap();
    assert_eq!(a.active_id(), b.active_id());
    assert_eq!(a.active_id(), Kek::from_slice(&[9u8; 32]).unwrap().id());
    assert_eq!(a.len(), 1);
    assert_eq!(a.created_at(a.active_id()), None);
    for (value, want) in [
        ("", "empty"),
        ("%%%", "not base64"),
        ("CQkJ", "decodes to 3 bytes"),
    ] {
        let err = Keyring::from_env_value(value).unwrap_err();
        assert_eq!(err.code(), "vault_key_invalid");
        assert!(err.to_string().contains(want), "{err}");
    }
    // Written out, it becomes a key file that can be rotated.
    let file = Keyring::parse(a.to_text().expose()).unwrap();
    assert_eq!(file.active_id(), a.active_id());
}

#[test]
fn debug_never_shows_key_bytes() {
    let kek = Kek::from_slice(&[0xAB; 32]).unwrap();
    let ring = Keyring::new(kek.clone(), Some(NOW));
    let text = ring.to_text();
    for out in [
        format!("{kek:?}"),
        format!("{kek:#?}"),
        format!("{ring:?}"),
        format!("{ring:#?}"),
        format!("{text:?}"),
        format!("{text}"),
    ] {
        assert!(!out.contains("abab") && !out.contains("ABAB"), "{out}");
        assert!(!out.contains("q6ur"), "{out}"); // base64 of 0xAB 0xAB 0xAB
        assert!(!out.contains("171"), "{out}"); // 0xAB as a decimal array element
    }
    assert!(format!("{kek:?}").contains(kek.id().as_str()));
    assert!(text.expose().contains("q6ur"));
}

#[test]
fn every_error_has_a_stable_code_and_a_message() {
    let id = KekId::parse("kek_0123456789abcdef").unwrap();
    let errors = [
        (
            VaultError::KekUnknown { kek_id: id.clone() },
            "vault_kek_unknown",
        ),
        (
            VaultError::UnwrapFailed { kek_id: id },
            "vault_unwrap_failed",
        ),
        (VaultError::DecryptFailed, "vault_decrypt_failed"),
        (
            VaultError::RecordMalformed("it is empty"),
            "vault_record_malformed",
        ),
        (
            VaultError::TooLarge {
                what: "plaintext",
                len: 2,
                max: 1,
            },
            "vault_too_large",
        ),
        (VaultError::KeyInvalid("x".repeat(30)), "vault_key_invalid"),
        (
            VaultError::KeyringInvalid("x".into()),
            "vault_keyring_invalid",
        ),
        (VaultError::KeyringFull, "vault_keyring_full"),
        (VaultError::Random, "vault_random_failed"),
        (VaultError::Crypto, "vault_crypto_failed"),
    ];
    for (err, code) in errors {
        assert_eq!(err.code(), code);
        assert!(err.to_string().len() > 20, "{err}");
    }
    assert!(KekId::parse("kek_0123456789ABCDEF").is_none());
    assert!(KekId::parse("kek_0123456789abcde").is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_plaintext_round_trips(
        plaintext in proptest::collection::vec(any::<u8>(), 0..2048),
        aad in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let ring = keyring();
        let record = seal(ring.active(), &plaintext, &aad, &rng()).unwrap();
        prop_assert_eq!(record.ciphertext.len(), plaintext.len() + 28);
        let opened = open(&ring, &record, &aad).unwrap();
        prop_assert_eq!(opened.expose(), &plaintext);
        let back = SealedRecord::from_bytes(&record.to_bytes()).unwrap();
        let reopened = open(&ring, &back, &aad).unwrap();
        prop_assert_eq!(reopened.expose(), &plaintext);
    }
}
