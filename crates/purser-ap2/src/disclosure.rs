//! RFC 9901 disclosures and their resolution into a plain JSON payload.
//!
//! A disclosure is `base64url(JSON array)`: `[salt, name, value]` for an object member (referenced
//! from an `_sd` array) or `[salt, value]` for an array element (referenced as `{"...": digest}`).
//! Its digest is `base64url(SHA-256(the disclosure string as presented))`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::encoding::{b64url_decode, sd_digest};
use crate::error::Ap2Error;
use crate::limits::MAX_RESOLVE_DEPTH;

/// Claim names a disclosure may never introduce (RFC 9901 §4.2.1).
const RESERVED_NAMES: [&str; 3] = ["_sd", "...", "_sd_alg"];

#[derive(Clone, Debug)]
enum Kind {
    Member { name: String, value: Value },
    Element { value: Value },
}

#[derive(Clone, Debug)]
struct Disclosure {
    kind: Kind,
    used: bool,
}

/// Resolves `payload` (a signed JWT payload) against `disclosures` (the strings after the JWT):
/// every disclosure must be referenced exactly once, no digest may appear twice, and reserved
/// claim names are refused. `_sd_alg` must be absent or `sha-256`; it is removed from the result
/// along with every `_sd` array and every undisclosed `...` element.
/// Also returns the JSON pointer (in the resolved output) of every object or
/// array that held a digest with no disclosure presented: where something was withheld (or a
/// decoy sits). Lets a verifier refuse withholding where it would loosen a rule.
pub(crate) fn resolve_tracking(
    mut payload: Map<String, Value>,
    disclosures: &[&str],
    hop: usize,
) -> Result<(Map<String, Value>, Vec<String>), Ap2Error> {
    match payload.remove("_sd_alg") {
        None => {}
        Some(Value::String(s)) if s == "sha-256" => {}
        Some(_) => {
            return Err(Ap2Error::malformed(
                Some(hop),
                "_sd_alg is not sha-256, the only digest this verifier accepts",
            ))
        }
    }
    let mut table: HashMap<String, Disclosure> = HashMap::with_capacity(disclosures.len());
    for d in disclosures {
        let parsed = parse_one(d, hop)?;
        if table.insert(sd_digest(d), parsed).is_some() {
            return Err(Ap2Error::disclosure(hop, "a disclosure is presented twice"));
        }
    }
    let mut resolver = Resolver {
        table,
        seen: HashSet::new(),
        hop,
        path: Vec::new(),
        withheld: Vec::new(),
    };
    let resolved = resolver.object(payload, 0)?;
    if resolver.table.values().any(|d| !d.used) {
        return Err(Ap2Error::disclosure(
            hop,
            "a disclosure is not referenced by any digest in the signed payload",
        ));
    }
    Ok((resolved, resolver.withheld))
}

fn parse_one(d: &str, hop: usize) -> Result<Disclosure, Ap2Error> {
    let bad = |r: &str| Ap2Error::disclosure(hop, r);
    let bytes = b64url_decode(d).ok_or_else(|| bad("a disclosure is not base64url"))?;
    let Ok(Value::Array(mut items)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(bad("a disclosure is not a JSON array"));
    };
    if !items.first().is_some_and(Value::is_string) {
        return Err(bad("a disclosure's salt is not a string"));
    }
    let kind = match items.len() {
        2 => Kind::Element {
            value: items.pop().unwrap_or(Value::Null),
        },
        3 => {
            let value = items.pop().unwrap_or(Value::Null);
            let Some(Value::String(name)) = items.pop() else {
                return Err(bad("a disclosure's claim name is not a string"));
            };
            if RESERVED_NAMES.contains(&name.as_str()) {
                return Err(bad("a disclosure uses a reserved claim name"));
            }
            Kind::Member { name, value }
        }
        _ => return Err(bad("a disclosure must have two or three elements")),
    };
    Ok(Disclosure { kind, used: false })
}

struct Resolver {
    table: HashMap<String, Disclosure>,
    /// Every digest met so far, disclosed or not: each may occur only once.
    seen: HashSet<String>,
    hop: usize,
    /// Where the resolver is in the output, as JSON pointer segments.
    path: Vec<String>,
    /// Pointers of objects/arrays that kept an undisclosed digest.
    withheld: Vec<String>,
}

impl Resolver {
    fn see(&mut self, digest: &str) -> Result<(), Ap2Error> {
        if !self.seen.insert(digest.to_owned()) {
            return Err(Ap2Error::disclosure(
                self.hop,
                "a digest occurs more than once in the payload",
            ));
        }
        Ok(())
    }

    fn pointer(&self) -> String {
        self.path
            .iter()
            .map(|seg| format!("/{}", seg.replace('~', "~0").replace('/', "~1")))
            .collect()
    }

    fn mark_withheld(&mut self) {
        let here = self.pointer();
        if self.withheld.last() != Some(&here) {
            self.withheld.push(here);
        }
    }

    /// Resolves `v` as the member or element `segment` of the current container.
    fn child(&mut self, segment: String, v: Value, depth: usize) -> Result<Value, Ap2Error> {
        self.path.push(segment);
        let out = self.value(v, depth);
        self.path.pop();
        out
    }

    fn depth(&self, depth: usize) -> Result<(), Ap2Error> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(Ap2Error::malformed(
                Some(self.hop),
                "the payload nests deeper than this verifier follows",
            ));
        }
        Ok(())
    }

    fn value(&mut self, v: Value, depth: usize) -> Result<Value, Ap2Error> {
        match v {
            Value::Object(m) => Ok(Value::Object(self.object(m, depth + 1)?)),
            Value::Array(a) => Ok(Value::Array(self.array(a, depth + 1)?)),
            other => Ok(other),
        }
    }

    fn object(
        &mut self,
        mut m: Map<String, Value>,
        depth: usize,
    ) -> Result<Map<String, Value>, Ap2Error> {
        self.depth(depth)?;
        let hop = self.hop;
        let digests = match m.remove("_sd") {
            None => Vec::new(),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(Ap2Error::malformed(Some(hop), "_sd is not an array")),
        };
        if m.contains_key("...") {
            return Err(Ap2Error::malformed(
                Some(hop),
                "\"...\" appears as an object member outside an array element",
            ));
        }
        let mut out = Map::with_capacity(m.len() + digests.len());
        for (k, v) in m {
            let v = self.child(k.clone(), v, depth)?;
            out.insert(k, v);
        }
        for d in digests {
            let Value::String(d) = d else {
                return Err(Ap2Error::malformed(
                    Some(hop),
                    "an _sd entry is not a string",
                ));
            };
            self.see(&d)?;
            let Some(disc) = self.table.get_mut(&d) else {
                self.mark_withheld(); // withheld or decoy
                continue;
            };
            disc.used = true;
            let Kind::Member { name, value } = disc.kind.clone() else {
                return Err(Ap2Error::disclosure(
                    hop,
                    "an array-element disclosure is referenced from an object's _sd",
                ));
            };
            if out.contains_key(&name) {
                return Err(Ap2Error::disclosure(
                    hop,
                    "a disclosure repeats a claim name already in the object",
                ));
            }
            let value = self.child(name.clone(), value, depth)?;
            out.insert(name, value);
        }
        Ok(out)
    }

    fn array(&mut self, a: Vec<Value>, depth: usize) -> Result<Vec<Value>, Ap2Error> {
        self.depth(depth)?;
        let hop = self.hop;
        let mut out = Vec::with_capacity(a.len());
        for item in a {
            let digest = match &item {
                Value::Object(m) if m.contains_key("...") => {
                    if m.len() != 1 {
                        return Err(Ap2Error::malformed(
                            Some(hop),
                            "an array element with \"...\" has other members",
                        ));
                    }
                    match m.get("...") {
                        Some(Value::String(s)) => Some(s.clone()),
                        _ => {
                            return Err(Ap2Error::malformed(
                                Some(hop),
                                "an array element digest is not a string",
                            ))
                        }
                    }
                }
                _ => None,
            };
            let Some(d) = digest else {
                let v = self.child(out.len().to_string(), item, depth)?;
                out.push(v);
                continue;
            };
            self.see(&d)?;
            let Some(disc) = self.table.get_mut(&d) else {
                self.mark_withheld(); // withheld or decoy element
                continue;
            };
            disc.used = true;
            let Kind::Element { value } = disc.kind.clone() else {
                return Err(Ap2Error::disclosure(
                    hop,
                    "an object-member disclosure is referenced as an array element",
                ));
            };
            let v = self.child(out.len().to_string(), value, depth)?;
            out.push(v);
        }
        Ok(out)
    }
}
