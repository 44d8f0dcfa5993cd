//! Delegate SD-JWT chains: parsing the `~~`-joined serialization and verifying every hop.

use purser_core::Timestamp;
use serde_json::{Map, Value};

use crate::disclosure::resolve_tracking;
use crate::encoding::sd_digest;
use crate::error::Ap2Error;
use crate::jwk::PublicJwk;
use crate::jws::CompactJws;
use crate::limits::{
    DEFAULT_CLOCK_SKEW_SECS, DEFAULT_MAX_KB_AGE_SECS, MAX_CHAIN_BYTES, MAX_CLOCK_SKEW_SECS,
    MAX_DISCLOSURES_PER_HOP, MAX_HOPS,
};

/// Open mandate types: constraints a user signed, which a later hop closes or delegates further.
pub const OPEN_VCTS: [&str; 2] = ["mandate.checkout.open.1", "mandate.payment.open.1"];
/// Closed mandate types: the concrete checkout or payment, signed by the agent's key.
pub const CLOSED_VCTS: [&str; 2] = ["mandate.checkout.1", "mandate.payment.1"];

/// `typ` values a key-binding hop may carry (`+kb` marks a hop that is itself delegated further).
const KB_TYPS: [&str; 2] = ["kb+sd-jwt", "kb+sd-jwt+kb"];

/// One hop of a chain, split but not verified: `jwt~d1~…~dn~`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presentation<'a> {
    /// The whole presentation including the trailing `~`: what the next hop's `sd_hash` covers.
    pub text: &'a str,
    /// The issuer-signed JWT: what the next hop's `issuer_jwt_hash` covers.
    pub jwt: &'a str,
    /// The disclosures, as presented.
    pub disclosures: Vec<&'a str>,
}

/// A chain split into hops. Nothing is verified: use [`verify_chain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedChain<'a> {
    pub hops: Vec<Presentation<'a>>,
}

/// Splits a compact chain: each hop is an SD-JWT presentation ending in `~`, and hops are joined
/// with one more `~` (so consecutive hops meet at `~~`). Enforces [`MAX_CHAIN_BYTES`],
/// [`MAX_HOPS`] and [`MAX_DISCLOSURES_PER_HOP`]. Never panics, whatever the input.
pub fn parse_chain(s: &str) -> Result<ParsedChain<'_>, Ap2Error> {
    if s.len() > MAX_CHAIN_BYTES {
        return Err(Ap2Error::malformed(
            None,
            "the chain is longer than this verifier accepts",
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return Err(Ap2Error::malformed(
            None,
            "the chain contains characters outside base64url, '.' and '~'",
        ));
    }
    if !s.ends_with('~') {
        return Err(Ap2Error::malformed(None, "the chain does not end with '~'"));
    }
    let mut hops = Vec::new();
    let mut start = 0usize;
    let segments: Vec<&str> = s.split("~~").collect();
    let count = segments.len();
    if count > MAX_HOPS {
        return Err(Ap2Error::malformed(
            None,
            "the chain has more hops than this verifier accepts",
        ));
    }
    for (i, seg) in segments.into_iter().enumerate() {
        let hop = i;
        // Every segment but the last lost its own trailing '~' to the "~~" split.
        let len = if i + 1 < count {
            seg.len() + 1
        } else {
            seg.len()
        };
        let text = s
            .get(start..start + len)
            .ok_or_else(|| Ap2Error::malformed(Some(hop), "the hop could not be delimited"))?;
        start += seg.len() + 2;
        let body = text
            .strip_suffix('~')
            .ok_or_else(|| Ap2Error::malformed(Some(hop), "the hop does not end with '~'"))?;
        let mut parts = body.split('~');
        let jwt = parts.next().unwrap_or_default();
        if jwt.is_empty() {
            return Err(Ap2Error::malformed(Some(hop), "the hop has no JWT"));
        }
        let mut disclosures = Vec::new();
        for d in parts {
            if d.is_empty() || d.contains('.') {
                return Err(Ap2Error::malformed(
                    Some(hop),
                    "a disclosure is empty or not base64url",
                ));
            }
            if disclosures.len() == MAX_DISCLOSURES_PER_HOP {
                return Err(Ap2Error::malformed(
                    Some(hop),
                    "the hop has more disclosures than this verifier accepts",
                ));
            }
            disclosures.push(d);
        }
        hops.push(Presentation {
            text,
            jwt,
            disclosures,
        });
    }
    Ok(ParsedChain { hops })
}

/// What the verifier expects; everything else is read from the chain.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    root_key: PublicJwk,
    now: Timestamp,
    expected_aud: Option<String>,
    expected_nonce: Option<String>,
    expected_final_vct: Option<String>,
    clock_skew_secs: i64,
    max_kb_age_secs: i64,
    allow_eddsa: bool,
    trusted_issuer: Option<String>,
}

impl VerifyOptions {
    /// `root_key` is the user's key that must have signed the root mandate (a trust decision the
    /// caller makes: enrolled passkey, wallet directory, …); `now` is the verifier's clock.
    pub fn new(root_key: PublicJwk, now: Timestamp) -> VerifyOptions {
        VerifyOptions {
            root_key,
            now,
            expected_aud: None,
            expected_nonce: None,
            expected_final_vct: None,
            clock_skew_secs: DEFAULT_CLOCK_SKEW_SECS,
            max_kb_age_secs: DEFAULT_MAX_KB_AGE_SECS,
            allow_eddsa: false,
            trusted_issuer: None,
        }
    }

    /// The last hop's `aud` must equal this (the verifier's own identifier).
    pub fn audience(mut self, aud: impl Into<String>) -> VerifyOptions {
        self.expected_aud = Some(aud.into());
        self
    }

    /// The last hop's `nonce` must equal this (the nonce the verifier handed out).
    pub fn nonce(mut self, nonce: impl Into<String>) -> VerifyOptions {
        self.expected_nonce = Some(nonce.into());
        self
    }

    /// The last hop's `vct` must be exactly this (for instance `mandate.payment.1`).
    pub fn final_vct(mut self, vct: impl Into<String>) -> VerifyOptions {
        self.expected_final_vct = Some(vct.into());
        self
    }

    /// Allowed clock difference, clamped to `0..=`[`MAX_CLOCK_SKEW_SECS`].
    pub fn clock_skew_secs(mut self, secs: i64) -> VerifyOptions {
        self.clock_skew_secs = secs.clamp(0, MAX_CLOCK_SKEW_SECS);
        self
    }

    /// How old (by `iat`) a key-binding hop may be before it is `expired`.
    pub fn max_key_binding_age_secs(mut self, secs: i64) -> VerifyOptions {
        self.max_kb_age_secs = secs.max(0);
        self
    }

    /// Accept EdDSA (Ed25519) keys and signatures. Off by default: AP2 uses ES256.
    pub fn allow_eddsa(mut self) -> VerifyOptions {
        self.allow_eddsa = true;
        self
    }

    /// Accept the issuer-enforced `purser.*` constraints ([`crate::PURSER_ISSUER_ENFORCED_TYPES`]:
    /// interval limits, lifetime item quantities, the confirmation policy) of a chain whose root
    /// `iss` is `issuer`, on that issuer's word: Purser enforces them at authorization, and no
    /// offline verifier can (they depend on spending so far and on the person's confirmation).
    /// Without it they are `unverifiable_constraint`. Stateless `purser.*` types are always
    /// evaluated.
    pub fn trust_issuer_enforced(mut self, issuer: impl Into<String>) -> VerifyOptions {
        self.trusted_issuer = Some(issuer.into());
        self
    }

    /// The verifier's clock, as given to [`VerifyOptions::new`].
    pub fn now(&self) -> Timestamp {
        self.now
    }
}

/// A chain whose every hop verified. Only [`verify_chain`] makes one.
#[derive(Clone, Debug)]
pub struct VerifiedChain {
    hops: Vec<Value>,
    claims: Vec<Map<String, Value>>,
    holder_key: Option<PublicJwk>,
    /// Per hop: JSON pointers (into the mandate) of objects/arrays with undisclosed digests.
    withheld: Vec<Vec<String>>,
    /// Per hop: base64url(SHA-256(presentation)), computed as `sd_hash` is.
    digests: Vec<String>,
    /// [`VerifyOptions::trust_issuer_enforced`], for constraint evaluation.
    trusted_issuer: Option<String>,
}

impl VerifiedChain {
    /// The resolved mandate payload of each hop (the single `delegate_payload` element, with
    /// every presented disclosure substituted), root first.
    pub fn hops(&self) -> &[Value] {
        &self.hops
    }

    /// The resolved JWT claims of each hop other than `delegate_payload` (`iat`, `aud`, `nonce`,
    /// `sd_hash`, …), root first.
    pub fn claims(&self) -> &[Map<String, Value>] {
        &self.claims
    }

    /// The issuer whose issuer-enforced `purser.*` constraints the verifier accepts.
    pub(crate) fn trusted_issuer(&self) -> Option<&str> {
        self.trusted_issuer.as_deref()
    }

    /// The last hop's mandate payload (the closed mandate in a full chain).
    pub fn last(&self) -> Option<&Value> {
        self.hops.last()
    }

    /// The `cnf` key of the last hop, if it names one (who may extend or present the chain next).
    pub fn holder_key(&self) -> Option<&PublicJwk> {
        self.holder_key.as_ref()
    }

    /// JSON pointers, within the mandate of `hop` (`""` is the mandate itself), of every object
    /// or array that carries a digest whose disclosure was not presented (withheld, or a decoy).
    pub fn withheld(&self, hop: usize) -> &[String] {
        self.withheld.get(hop).map(Vec::as_slice).unwrap_or(&[])
    }

    /// base64url(SHA-256) of hop `hop`'s presentation (`jwt~disclosures~`), computed as an
    /// `sd_hash` over it would be: AP2's hash of an open mandate (`payment.reference`) and of a
    /// closed one (a receipt's `reference`).
    pub fn presentation_digest(&self, hop: usize) -> Option<&str> {
        self.digests.get(hop).map(String::as_str)
    }

    /// The hash a receipt for this chain must carry as `reference`: the digest of the final
    /// SD-JWT in the chain (AP2 agent authorization, "Mandate Receipt").
    pub fn reference(&self) -> &str {
        self.digests.last().map(String::as_str).unwrap_or_default()
    }
}

/// Parses and verifies a whole chain. See the crate docs for exactly what is checked.
pub fn verify_chain(chain: &str, opts: &VerifyOptions) -> Result<VerifiedChain, Ap2Error> {
    let parsed = parse_chain(chain)?;
    verify_parsed(&parsed, opts)
}

/// Verifies an already parsed chain.
pub fn verify_parsed(
    parsed: &ParsedChain<'_>,
    opts: &VerifyOptions,
) -> Result<VerifiedChain, Ap2Error> {
    let now = opts.now.millis().div_euclid(1000);
    let skew = opts.clock_skew_secs;
    let last = parsed.hops.len().saturating_sub(1);
    let mut key = opts.root_key.clone();
    let mut family: Option<&'static str> = None;
    let mut hops = Vec::with_capacity(parsed.hops.len());
    let mut all_claims = Vec::with_capacity(parsed.hops.len());
    let mut holder_key = None;
    let mut withheld = Vec::with_capacity(parsed.hops.len());

    for (i, p) in parsed.hops.iter().enumerate() {
        let jws = CompactJws::parse(p.jwt, i)?;
        jws.verify(&key, opts.allow_eddsa, i)?;
        if i > 0 {
            let typ = jws
                .header
                .get("typ")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !KB_TYPS.contains(&typ) {
                return Err(Ap2Error::malformed(
                    Some(i),
                    "a key-binding hop's typ is not kb+sd-jwt",
                ));
            }
        }
        let (mut claims, hidden) = resolve_tracking(jws.payload, &p.disclosures, i)?;
        withheld.push(
            hidden
                .iter()
                .filter_map(|ptr| ptr.strip_prefix("/delegate_payload/0"))
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        );
        let payload = match claims.remove("delegate_payload") {
            Some(Value::Array(mut items)) if items.len() == 1 && items[0].is_object() => {
                items.pop().unwrap_or(Value::Null)
            }
            _ => {
                return Err(Ap2Error::malformed(
                    Some(i),
                    "delegate_payload is not one disclosed mandate object",
                ))
            }
        };

        if i > 0 {
            check_binding(&claims, &parsed.hops[i - 1], i)?;
            let aud = required_str(&claims, "aud", i)?;
            let nonce = required_str(&claims, "nonce", i)?;
            let iat = required_int(&claims, "iat", i)?;
            if i == last {
                if opts.expected_aud.as_deref().is_some_and(|want| want != aud) {
                    return Err(Ap2Error::AudMismatch { hop: i });
                }
                if opts
                    .expected_nonce
                    .as_deref()
                    .is_some_and(|want| want != nonce)
                {
                    return Err(Ap2Error::NonceMismatch { hop: i });
                }
            }
            if now.saturating_sub(iat) > opts.max_kb_age_secs.saturating_add(skew) {
                return Err(Ap2Error::Expired { hop: i });
            }
        } else if i == last {
            // A lone root has no aud or nonce of its own; a verifier that expects them refuses it.
            if let Some(want) = &opts.expected_aud {
                if claims.get("aud").and_then(Value::as_str) != Some(want.as_str()) {
                    return Err(Ap2Error::AudMismatch { hop: i });
                }
            }
            if let Some(want) = &opts.expected_nonce {
                if claims.get("nonce").and_then(Value::as_str) != Some(want.as_str()) {
                    return Err(Ap2Error::NonceMismatch { hop: i });
                }
            }
        }
        check_times(&claims, now, skew, i)?;
        family = Some(check_vct(&payload, i, last, family, opts)?);

        let cnf = payload
            .get("cnf")
            .or_else(|| claims.get("cnf"))
            .map(|c| {
                c.get("jwk")
                    .ok_or_else(|| Ap2Error::malformed(Some(i), "cnf has no jwk"))
                    .and_then(|jwk| {
                        PublicJwk::from_jwk(jwk)
                            .map_err(|reason| Ap2Error::InvalidKey { hop: i + 1, reason })
                    })
            })
            .transpose()?;
        match cnf {
            Some(k) => {
                key = k.clone();
                holder_key = Some(k);
            }
            None if i < last => {
                return Err(Ap2Error::malformed(
                    Some(i),
                    "the hop names no cnf key, yet another hop follows it",
                ))
            }
            None => holder_key = None,
        }
        hops.push(payload);
        all_claims.push(claims);
    }
    Ok(VerifiedChain {
        hops,
        claims: all_claims,
        holder_key,
        withheld,
        digests: parsed.hops.iter().map(|p| sd_digest(p.text)).collect(),
        trusted_issuer: opts.trusted_issuer.clone(),
    })
}

/// Exactly one of `sd_hash` (over the previous presentation, disclosures included) or
/// `issuer_jwt_hash` (over the previous issuer-signed JWT only) binds a hop to its predecessor.
fn check_binding(
    claims: &Map<String, Value>,
    prev: &Presentation<'_>,
    hop: usize,
) -> Result<(), Ap2Error> {
    let sd_hash = claims.get("sd_hash");
    let jwt_hash = claims.get("issuer_jwt_hash");
    let (got, covered) = match (sd_hash, jwt_hash) {
        (Some(v), None) => (v, prev.text),
        (None, Some(v)) => (v, prev.jwt),
        _ => return Err(Ap2Error::InvalidSdHash { hop }),
    };
    match got.as_str() {
        Some(h) if h == sd_digest(covered) => Ok(()),
        _ => Err(Ap2Error::InvalidSdHash { hop }),
    }
}

fn required_str<'c>(
    claims: &'c Map<String, Value>,
    name: &str,
    hop: usize,
) -> Result<&'c str, Ap2Error> {
    claims.get(name).and_then(Value::as_str).ok_or_else(|| {
        Ap2Error::malformed(
            Some(hop),
            format!("the key-binding hop has no string {name}"),
        )
    })
}

fn required_int(claims: &Map<String, Value>, name: &str, hop: usize) -> Result<i64, Ap2Error> {
    claims.get(name).and_then(Value::as_i64).ok_or_else(|| {
        Ap2Error::malformed(
            Some(hop),
            format!("the key-binding hop has no integer {name}"),
        )
    })
}

fn optional_int(
    claims: &Map<String, Value>,
    name: &str,
    hop: usize,
) -> Result<Option<i64>, Ap2Error> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or_else(|| {
            Ap2Error::malformed(Some(hop), format!("{name} is not an integer of seconds"))
        }),
    }
}

fn check_times(
    claims: &Map<String, Value>,
    now: i64,
    skew: i64,
    hop: usize,
) -> Result<(), Ap2Error> {
    if let Some(exp) = optional_int(claims, "exp", hop)? {
        if now > exp.saturating_add(skew) {
            return Err(Ap2Error::Expired { hop });
        }
    }
    for name in ["iat", "nbf"] {
        if let Some(t) = optional_int(claims, name, hop)? {
            if t > now.saturating_add(skew) {
                return Err(Ap2Error::NotYetValid { hop });
            }
        }
    }
    Ok(())
}

/// Root and intermediate hops are open mandates; a closed mandate may only be the last hop; all
/// hops are of one family (checkout or payment). Returns the family.
fn check_vct(
    payload: &Value,
    hop: usize,
    last: usize,
    family: Option<&'static str>,
    opts: &VerifyOptions,
) -> Result<&'static str, Ap2Error> {
    let vct = payload
        .get("vct")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invalid = || Ap2Error::InvalidVct {
        hop,
        found: vct.chars().take(64).collect(),
    };
    let open = OPEN_VCTS.contains(&vct);
    let closed = CLOSED_VCTS.contains(&vct);
    if !(open || closed && hop > 0 && hop == last) {
        return Err(invalid());
    }
    let this_family = if vct.starts_with("mandate.checkout.") {
        "checkout"
    } else {
        "payment"
    };
    if family.is_some_and(|f| f != this_family) {
        return Err(invalid());
    }
    if hop == last
        && opts
            .expected_final_vct
            .as_deref()
            .is_some_and(|want| want != vct)
    {
        return Err(invalid());
    }
    Ok(this_family)
}
