//! The web wallet's forms over real HTTP, as a browser sends them (session cookie, the page's
//! CSRF token): what a page says was done comes only from a one-shot cookie made in the same
//! session after the real action (a crafted `?done=`, another session's notice or an altered
//! one says nothing); "Continue to consent" sent twice stores one draft; a revoked agent's card
//! whose closing failed is said, and stays on `/agents` with Withdraw until the money is back.

use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::hostile::{dora_with_pin, page_csrf, pin_session, DORA_PIN as PIN};
use crate::people::*;
use crate::support::*;

/// A page or a redirect, with every cookie it sets.
struct Page {
    status: u16,
    text: String,
    location: Option<String>,
    set_cookies: Vec<String>,
}

impl Page {
    /// The value a `Set-Cookie` of this answer gives `name` (`""` when it deletes it).
    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies.iter().find_map(|c| {
            c.strip_prefix(&format!("{name}="))
                .map(|v| v.split(';').next().unwrap_or_default().to_string())
        })
    }

    /// The whole `Set-Cookie` line for `name`.
    fn cookie_line(&self, name: &str) -> Option<&str> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(String::as_str)
    }

    /// The notice at the top of the page (`#done`), if there is one.
    fn notice(&self) -> Option<&str> {
        self.text
            .split("id=\"done\"><p>")
            .nth(1)
            .and_then(|t| t.split("</p>").next())
    }
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form_body(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `method path` with these cookies (and a form body), redirects not followed.
fn web(p: &dyn Server, method: &str, path: &str, cookies: &str, form: Option<&str>) -> Page {
    let a = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let req = a
        .request(method, &format!("{}{path}", p.base()))
        .set("Cookie", cookies);
    let r = match form {
        Some(f) => req
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(f),
        None => req.call(),
    };
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    Page {
        status: r.status(),
        location: r.header("location").map(str::to_string),
        set_cookies: r.all("set-cookie").iter().map(|s| s.to_string()).collect(),
        text: r.into_string().unwrap_or_default(),
    }
}

/// `GET path` in the session of `cookie` (a `purser-session=…` pair), carrying the one-shot
/// notice cookie `flash`.
fn get_with_flash(p: &dyn Server, path: &str, cookie: &str, flash: &str) -> Page {
    web(
        p,
        "GET",
        path,
        &format!("{cookie}; purser-flash={flash}"),
        None,
    )
}

fn session_cookie(session: &str) -> String {
    format!("purser-session={session}")
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#96;", "`")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// An attribute's value in one tag's text.
fn attr(tag: &str, name: &str) -> Option<String> {
    tag.split(&format!(" {name}=\""))
        .nth(1)
        .and_then(|v| v.split('"').next())
        .map(unescape)
}

/// The fields a browser sends for the form that starts at `marker` (its inputs, textareas and
/// selects, as drawn).
fn form_fields(html: &str, marker: &str) -> Vec<(String, String)> {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in the page: {html}"));
    let form = &html[start..];
    let form = &form[..form.find("</form>").expect("the form ends")];
    let mut out = Vec::new();
    for piece in form.split('<').skip(1) {
        let tag = piece.split('>').next().unwrap_or_default();
        if tag.starts_with("input ") {
            if let Some(name) = attr(tag, "name") {
                out.push((name, attr(tag, "value").unwrap_or_default()));
            }
        } else if tag.starts_with("textarea ") {
            if let Some(name) = attr(tag, "name") {
                let content = piece.split_once('>').map_or("", |(_, c)| c);
                out.push((name, unescape(content)));
            }
        } else if tag.starts_with("select ") {
            let name = attr(tag, "name").expect("a named select");
            let rest = &form[form.find(tag).unwrap_or(0)..];
            let options = &rest[..rest.find("</select>").unwrap_or(rest.len())];
            let chosen = options
                .split("<option ")
                .skip(1)
                .find(|o| {
                    o.split('>')
                        .next()
                        .unwrap_or_default()
                        .contains(" selected")
                })
                .or_else(|| options.split("<option ").nth(1))
                .and_then(|o| attr(&format!(" {o}"), "value"))
                .unwrap_or_default();
            out.push((name, chosen));
        }
    }
    out
}

fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    fields.retain(|(k, _)| k != name);
    fields.push((name.to_string(), value.to_string()));
}

/// Dora with a PIN and a wallet of `funds` CNY, one agent she has approved, and two
/// signed-in browsers.
struct World {
    _dir: TempDir,
    p: Purser,
    dora: Person,
    binding: String,
    agent_id: String,
    a: String,
    b: String,
}

fn world(storage: &Storage, tag: &str, funds: i64) -> World {
    let dir = TempDir::new(tag);
    let p = start_with(dir.path(), storage, &[]);
    let dora = dora_with_pin(&p);
    if funds > 0 {
        dora.funded(&p, funds);
    }
    let dev = Person::new(&p, "Dev");
    let (agent, binding) = bound_agent(&p, &dev, &dora);
    let a = pin_session(&p, &dora.id, PIN);
    let b = pin_session(&p, &dora.id, PIN);
    World {
        _dir: dir,
        p,
        dora,
        binding,
        agent_id: agent.id,
        a,
        b,
    }
}

both!(
    a_notice_is_said_once_and_only_where_it_was_earned,
    |storage| {
        let w = world(&storage, "web-flash", 0);
        let (p, a, b) = (&w.p, session_cookie(&w.a), session_cookie(&w.b));

        // A crafted link says nothing: the words come only from a real action.
        for path in [
            format!("/agents?done=frozen&b={}", w.binding),
            format!("/agents?done=revoked&b={}", w.binding),
            "/mandates?done=consented".to_string(),
            "/mandates?done=revoked".to_string(),
        ] {
            let page = web(p, "GET", &path, &a, None);
            assert_eq!(page.status, 200, "{path}");
            assert_eq!(page.notice(), None, "{path} says nothing");
            assert!(!page.text.contains("is frozen"), "{path}");
            assert!(!page.text.contains("You consented"), "{path}");
        }

        // Freezing in browser A: a redirect to the page itself, and a flash cookie with the same
        // rules as the session's.
        let (_, csrf_a) = page_csrf(p, &w.a);
        let form = format!("csrf={csrf_a}&binding={}&action=freeze", enc(&w.binding));
        let done = web(p, "POST", "/agents/binding", &a, Some(&form));
        assert_eq!(done.status, 303, "{}", done.text);
        assert_eq!(
            done.location.as_deref(),
            Some("/agents"),
            "nothing in the URL"
        );
        let flash = done.cookie("purser-flash").expect("a flash cookie");
        assert!(!flash.is_empty());
        let line = done.cookie_line("purser-flash").unwrap_or_default();
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=60"] {
            assert!(line.contains(part), "{line}");
        }
        let b_state = w
            .dora
            .get(p, &format!("/v1/bindings/{}", w.binding))
            .want(200);
        assert_eq!(b_state["frozen"], true, "{b_state}");

        // Browser B's session with A's flash: nothing is said, and the cookie is deleted.
        let other = get_with_flash(p, "/agents", &b, &flash);
        assert_eq!(other.status, 200);
        assert_eq!(other.notice(), None, "another session's flash is ignored");
        assert_eq!(
            other.cookie("purser-flash").as_deref(),
            Some(""),
            "and deleted"
        );
        assert!(other
            .cookie_line("purser-flash")
            .is_some_and(|l| l.contains("Max-Age=0")));

        // Altered (another notice, another agent, a later expiry): nothing.
        let mut forged = vec![
            flash.replacen("frozen", "revoked", 1),
            flash.replacen(&w.binding, "bnd_aaaaaaaaaaaaaaaaaaaaaaaa", 1),
        ];
        if let Some((word, rest)) = flash.split_once('_') {
            if let Some((exp, rest)) = rest.split_once('_') {
                let later: i64 = exp.parse::<i64>().unwrap_or(0) + 3600;
                forged.push(format!("{word}_{later}_{rest}"));
            }
        }
        for f in &forged {
            assert_ne!(f, &flash, "the forgery changed something");
            let page = get_with_flash(p, "/agents", &a, f);
            assert_eq!(page.notice(), None, "altered flash {f} says nothing");
        }
        // Meant for /agents, it says nothing on /mandates.
        let page = get_with_flash(p, "/mandates", &a, &flash);
        assert_eq!(page.notice(), None, "a flash is for its own page");

        // In its own session, on its own page: said once, then deleted.
        let own = get_with_flash(p, "/agents", &a, &flash);
        assert_eq!(own.status, 200);
        let said = own.notice().expect("the notice");
        assert!(
            said.contains("is frozen: every request from it is refused"),
            "{said}"
        );
        assert_eq!(
            own.cookie("purser-flash").as_deref(),
            Some(""),
            "deleted once shown"
        );
        let again = web(p, "GET", "/agents", &a, None);
        assert_eq!(again.notice(), None, "the next visit says nothing");
        assert!(
            again.cookie_line("purser-flash").is_none(),
            "nothing to delete"
        );
    }
);

both!(continue_to_consent_sent_twice_stores_one_draft, |storage| {
    let w = world(&storage, "web-once", 0);
    let (p, a) = (&w.p, session_cookie(&w.a));
    let words = "Buy running shoes under 600 yuan at Trailhead Outfitters, ask me above 300";

    // The proposal page for these words, as "Show me the proposal" draws it.
    let proposal = || {
        let (_, csrf) = page_csrf(p, &w.a);
        let form = form_body(&[
            ("csrf".into(), csrf),
            ("action".into(), "draft".into()),
            ("words".into(), words.into()),
            ("agent_id".into(), w.agent_id.clone()),
        ]);
        let page = web(p, "POST", "/mandates/new", &a, Some(&form));
        assert_eq!(page.status, 200, "{}", page.text);
        let mut fields = form_fields(&page.text, "id=\"proposal\"");
        set(&mut fields, "action", "create");
        fields
    };
    let first = proposal();
    let key = first
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.clone())
        .expect("the form carries a one-time key");
    assert!(key.starts_with("pwk_"), "{key}");
    let body = form_body(&first);
    let mandates = || w.dora.get(p, "/v1/mandates").want(200)["data"].clone();
    assert_eq!(mandates(), json!([]), "drafting stores nothing");

    // A double click: the same form twice at the same moment, then once more (Back, resend).
    let sent: Vec<Page> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| web(p, "POST", "/mandates/new", &a, Some(&body))))
            .collect();
        hs.into_iter().map(|h| h.join().expect("a post")).collect()
    });
    let resent = web(p, "POST", "/mandates/new", &a, Some(&body));
    let mut places = Vec::new();
    for r in sent.iter().chain([&resent]) {
        assert_eq!(r.status, 303, "{}", r.text);
        places.push(r.location.clone().unwrap_or_default());
    }
    assert!(
        places[0].starts_with("/mandates/mdt_") && places[0].ends_with("/consent"),
        "{places:?}"
    );
    assert!(
        places.iter().all(|l| *l == places[0]),
        "one consent page: {places:?}"
    );
    let stored = mandates();
    assert_eq!(
        stored.as_array().map(Vec::len),
        Some(1),
        "one draft: {stored}"
    );
    assert_eq!(stored[0]["status"], "draft");
    let id = stored[0]["id"].as_str().unwrap_or_default().to_string();
    assert_eq!(places[0], format!("/mandates/{id}/consent"));

    // The same form for another agent under the same key stores nothing more.
    let dev = Person::new(p, "Dev 2");
    let (other_agent, _) = bound_agent(p, &dev, &w.dora);
    let mut other = first.clone();
    set(&mut other, "agent_id", &other_agent.id);
    let r = web(p, "POST", "/mandates/new", &a, Some(&form_body(&other)));
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r
        .text
        .contains("This form was already sent with another proposal or agent"));
    assert_eq!(mandates().as_array().map(Vec::len), Some(1));

    // A new proposal page has a new key: that is a second draft.
    let second = proposal();
    assert_ne!(form_body(&second), body, "a fresh key");
    let r = web(p, "POST", "/mandates/new", &a, Some(&form_body(&second)));
    assert_eq!(r.status, 303, "{}", r.text);
    assert_ne!(r.location, Some(places[0].clone()));
    assert_eq!(mandates().as_array().map(Vec::len), Some(2));

    // Consenting with the PIN: /mandates says so once, in this session.
    let consent = web(p, "GET", &places[0], &a, None);
    let fields = form_fields(&consent.text, "id=\"pin-consent\"");
    let mut fields = fields;
    set(&mut fields, "pin", PIN);
    let r = web(
        p,
        "POST",
        &format!("/mandates/{id}/consent"),
        &a,
        Some(&form_body(&fields)),
    );
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.location.as_deref(), Some("/mandates"));
    let flash = r.cookie("purser-flash").expect("a flash");
    let list = get_with_flash(p, "/mandates", &a, &flash);
    let said = list.notice().expect("the notice");
    assert!(said.starts_with("You consented"), "{said}");
    let b = session_cookie(&w.b);
    let list = get_with_flash(p, "/mandates", &b, &flash);
    assert_eq!(list.notice(), None, "not in another session");
});

/// Makes closing an exclusive card fail in the database, as a storage error would, or lets it
/// work again.
fn refuse_closing(w: &World, storage: &Storage, refuse: bool) {
    let sql = match (storage.url(), refuse) {
        (Some(_), true) => "CREATE FUNCTION test_no_close() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.status = 'closed' THEN RAISE EXCEPTION 'closing refused by the test'; END IF; RETURN NEW; END $$; CREATE TRIGGER test_no_close BEFORE UPDATE ON exclusive_cards FOR EACH ROW EXECUTE FUNCTION test_no_close();",
        (Some(_), false) => "DROP TRIGGER test_no_close ON exclusive_cards; DROP FUNCTION test_no_close();",
        (None, true) => "CREATE TRIGGER test_no_close BEFORE UPDATE OF status ON exclusive_cards WHEN NEW.status = 'closed' BEGIN SELECT RAISE(ABORT, 'closing refused by the test'); END;",
        (None, false) => "DROP TRIGGER test_no_close;",
    };
    match storage.url() {
        Some(url) => crate::support::exec(url, sql),
        None => {
            let db = rusqlite::Connection::open(w._dir.path().join("purser.db")).unwrap();
            db.busy_timeout(Duration::from_secs(10)).unwrap();
            db.execute_batch(sql).unwrap();
        }
    }
}

both!(
    a_revoked_agents_card_that_could_not_be_closed_stays_in_sight,
    |storage| {
        let w = world(&storage, "web-revoke", 100_000);
        let (p, a) = (&w.p, session_cookie(&w.a));
        let card = w
            .dora
            .post(
                p,
                "/v1/exclusive-cards",
                &json!({"binding_id": w.binding, "currency": "CNY"}),
            )
            .want(201);
        let ecd = card["id"].as_str().expect("ecd").to_string();
        w.dora
            .post_key(
                p,
                &format!("/v1/exclusive-cards/{ecd}/fund"),
                &unique("f"),
                &json!({"amount": cny(30_000)}),
            )
            .want(200);
        assert_eq!(w.dora.available(p), 70_000);
        let balance = |id: &str| {
            let c = w
                .dora
                .get(p, &format!("/v1/exclusive-cards/{id}"))
                .want(200);
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["balance"]["amount"].as_i64().unwrap_or(-1),
            )
        };

        // "Revoke" confirmed, with browser A's form: redirected with a notice.
        let revoke = || {
            let (_, csrf) = page_csrf(p, &w.a);
            let form = format!(
                "csrf={csrf}&binding={}&action=revoke&confirm=yes",
                enc(&w.binding)
            );
            let r = web(p, "POST", "/agents/binding", &a, Some(&form));
            assert_eq!(r.status, 303, "{}", r.text);
            r
        };

        // Revoke while closing cards fails: the binding ends, the page says the card could not
        // be closed and shows it with Withdraw.
        refuse_closing(&w, &storage, true);
        let r = revoke();
        let b = w
            .dora
            .get(p, &format!("/v1/bindings/{}", w.binding))
            .want(200);
        assert_eq!(b["status"], "revoked", "{b}");
        assert_eq!(balance(&ecd), ("active".to_string(), 30_000), "not closed");
        let flash = r.cookie("purser-flash").expect("a flash");
        let page = get_with_flash(p, "/agents", &a, &flash);
        let said = page.notice().expect("a notice");
        assert!(
            said.contains("its own card could not be closed: it still holds ¥300.00"),
            "{said}"
        );
        assert!(
            said.contains("Withdraw the money to your wallet below"),
            "{said}"
        );
        assert!(
            !said.contains("its binding and its mandates have ended"),
            "{said}"
        );
        assert!(
            page.text.contains("role=\"alert\" id=\"done\""),
            "said as an alert"
        );
        let ended = page
            .text
            .split("id=\"ended\"")
            .nth(1)
            .expect("the cards of agents that no longer act for you");
        assert!(ended.contains(&format!("id=\"agent-{}\"", w.binding)));
        assert!(ended.contains(&format!("id=\"card-{ecd}\"")));
        assert!(ended.contains("¥300.00"));
        assert!(ended.contains("Close the card and return its balance"));

        // Withdraw ¥100 with the page's own form.
        let amount_field = page
            .text
            .find(&format!("id=\"withdraw-{ecd}\""))
            .expect("the withdraw form");
        let form_start = page.text[..amount_field].rfind("<form").expect("its start");
        let mut withdraw = form_fields(&page.text[form_start..], "<form");
        assert!(
            withdraw.contains(&("direction".to_string(), "withdraw".to_string())),
            "{withdraw:?}"
        );
        set(&mut withdraw, "amount", "100");
        let r = web(
            p,
            "POST",
            "/agents/card/move",
            &a,
            Some(&form_body(&withdraw)),
        );
        assert_eq!(r.status, 303, "{}", r.text);
        assert_eq!(balance(&ecd).1, 20_000);
        assert_eq!(w.dora.available(p), 80_000);

        // Closing works again: "Close the card" (revoking again) returns the rest, and the card
        // leaves the page.
        refuse_closing(&w, &storage, false);
        let r = revoke();
        assert_eq!(balance(&ecd), ("closed".to_string(), 0));
        assert_eq!(w.dora.available(p), 100_000, "every yuan is back");
        let flash = r.cookie("purser-flash").expect("a flash");
        let page = get_with_flash(p, "/agents", &a, &flash);
        let said = page.notice().expect("a notice");
        assert!(
            said.contains("its binding and its mandates have ended"),
            "{said}"
        );
        assert!(!page.text.contains("id=\"ended\""), "nothing left to show");
    }
);
