//! API tokens: a token can only make tokens with scopes it holds, that never outlive it, and
//! revoking a token revokes every token made with it.

use serde_json::json;

use crate::both;
use crate::people::*;
use crate::support::*;

both!(revoking_a_token_revokes_what_it_made, |storage| {
    let dir = TempDir::new("tokens");
    let p = start(dir.path(), &storage);
    let ada = Person::new(&p, "Ada");
    // ada (setup token) → child → grandchild; a sibling made by ada stays.
    let child = ada.token_with(&p, &["tokens", "wallet:read"]);
    let grandchild = child.token_with(&p, &["wallet:read"]);
    let sibling = ada.token_with(&p, &["wallet:read"]);
    for t in [&child, &grandchild, &sibling] {
        t.get(&p, "/v1/wallet").want(200);
    }
    // A token cannot outlive its maker: the child's expiry bounds the grandchild's.
    let list = ada.get(&p, "/v1/tokens").want(200);
    let expiry = |id: &str| {
        list["data"]
            .as_array()
            .expect("tokens")
            .iter()
            .find(|t| t["id"] == id)
            .map(|t| t["expires_at"].as_str().expect("expires_at").to_string())
            .expect("listed")
    };
    assert!(expiry(&grandchild.token_id) <= expiry(&child.token_id));
    ada.post(
        &p,
        &format!("/v1/tokens/{}/revoke", child.token_id),
        &json!({}),
    )
    .want(200);
    child.get(&p, "/v1/wallet").refused(401, "token_invalid");
    grandchild
        .get(&p, "/v1/wallet")
        .refused(401, "token_invalid");
    sibling.get(&p, "/v1/wallet").want(200);
    ada.get(&p, "/v1/wallet").want(200);
});
