//! Content-Digest (RFC 9530): an untrusted header checked against a body, and the property
//! that the digest Purser computes for any body verifies against that body and no longer
//! verifies once the body changes.
//!
//! Input: the header value, a line feed, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purser_core::httpsig::{content_digest, verify_content_digest};
use purser_fuzz::first_line;

fuzz_target!(|data: &[u8]| {
    let (header, body) = first_line(data);
    if let Err(e) = verify_content_digest(header, body) {
        let _ = (e.to_string(), e.code());
    }
    let ours = content_digest(body);
    verify_content_digest(ours.as_bytes(), body).expect("our own digest verifies");
    let mut changed = body.to_vec();
    changed.push(b'x');
    assert!(
        verify_content_digest(ours.as_bytes(), &changed).is_err(),
        "a digest verified a different body"
    );
    // Members Purser does not know are ignored, but ours still decides.
    let with_other = format!("{ours}, md5=:AAAA:");
    verify_content_digest(with_other.as_bytes(), body).expect("an unknown member is ignored");
});
