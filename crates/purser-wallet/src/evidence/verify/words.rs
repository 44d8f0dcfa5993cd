//! What a verified bundle proves, and what it does not, in plain sentences.

use super::*;

impl Verifier {
    // ---- in words ------------------------------------------------------------------------

    pub(super) fn proven(&self) -> Vec<String> {
        let f = &self.facts;
        let mut out = Vec::new();
        let items = f
            .items
            .iter()
            .map(|(t, q)| {
                if *q == 1 {
                    t.clone()
                } else {
                    format!("{q} × {t}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        let signed_at = f
            .signed_at
            .map(|t| format!(" at {}", when(t)))
            .unwrap_or_default();
        let mandate = f.mandate_id.clone().unwrap_or_default();
        if let Some(s) = &f.scheduled {
            out.push(format!(
                "Purser's scheduler, not an agent, asked to pay {} to {} for {items}: occurrence {} of the recurring mandate {mandate}, due at {}, exactly as its consented schedule says.",
                self.money(f.amount),
                f.merchant,
                s.occurrence,
                when(s.due_at)
            ));
        } else {
            out.push(format!(
            "The agent {} with key {} signed a request{signed_at} to pay {} to {} for {items}, relying on mandate {mandate}.",
            f.agent_id,
            f.keyid,
            self.money(f.amount),
            f.merchant,
        ));
        }
        match &f.decision {
            Some((d, at, reasons)) => {
                let words = f
                    .mandate_words
                    .as_ref()
                    .map(|w| format!(" (\u{201c}{w}\u{201d})"))
                    .unwrap_or_default();
                let consent = match &f.consented_at {
                    Some(c) => format!(", which the person consented to at {c}"),
                    None => ", to which the person had not consented".into(),
                };
                let what = match d.as_str() {
                    "approved" => "approved it".to_string(),
                    "needs_confirmation" => {
                        "held the money and asked the person to confirm it".to_string()
                    }
                    _ => format!("declined it ({})", reasons.join(" ")),
                };
                out.push(format!("Purser {what} at {} under mandate {mandate}{words}{consent}; its signed receipt names the exact request the agent signed and the mandate's content hash.", when(*at)));
            }
            None => {
                out.push("Purser never decided this request (it failed before a decision).".into())
            }
        }
        if let Some(at) = f.credentials_issued_at {
            let to = match f.credentials_to_signer {
                Some(true) => "to the same agent key",
                _ => "to an earlier key of the agent",
            };
            out.push(format!(
                "Purser issued the mandate's AP2 credentials (checkout and payment open mandates) at {} {to}; both verify.",
                when(at)
            ));
        }
        if let Some((status, decided, signed)) = &f.confirmation {
            let at = decided
                .as_ref()
                .map(|d| format!(" at {d}"))
                .unwrap_or_default();
            let how = if *signed {
                "; Purser signed a receipt of it"
            } else {
                " (recorded by Purser; no separate signature)"
            };
            out.push(format!("The person's confirmation is {status}{at}{how}."));
        }
        if let Some(at) = f.hold_at {
            out.push(format!(
                "{} was held in the ledger at {}.",
                self.money(f.amount),
                when(at)
            ));
        }
        if let Some(at) = f.capture_at {
            out.push(format!(
                "The merchant captured {} at {}.",
                self.money(f.captured),
                when(at)
            ));
        }
        if let Some((how, at)) = f.released {
            out.push(format!(
                "The held money was released ({how}) at {}.",
                when(at)
            ));
        }
        for (amount, at) in &f.refunds_moved {
            out.push(format!(
                "{} was refunded at {}.",
                self.money(*amount),
                when(*at)
            ));
        }
        if f.seqs.is_empty() {
            out.push("No ledger entries: no money was held for this payment.".into());
        } else if let Some((seq, hash)) = &f.head {
            let seqs = f
                .seqs
                .iter()
                .map(|s| format!("#{s}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(format!(
                "Ledger entries {seqs} link into Purser's hash chain (each hash recomputed from the one before it); the head at export was #{seq} ({}…).",
                hash.chars().take(16).collect::<String>()
            ));
        }
        if let Some((at, kid)) = &f.sealed {
            out.push(format!(
                "Purser sealed this bundle at {} with key {kid}: nothing in it has changed since.",
                when(*at)
            ));
        }
        out
    }

    pub(super) fn not_proven(&self) -> Vec<String> {
        let mut out = vec![
            "The ledger entries prove their own links, not the entries between them and the head: `purser ledger verify` on Purser's database checks the whole chain.".to_string(),
            "A capture proves the merchant redeemed the credential, not that the goods were delivered.".to_string(),
        ];
        if self.trust == TrustRoot::Bundle {
            out.push("The keys came from the bundle itself: this shows the bundle is consistent, not that Purser made it. Fetch Purser's published keys (GET /.well-known/jwks.json) and run again with --keys.".into());
        }
        if !self.facts.timeline_complete {
            out.push(format!(
                "The timeline was cut at {MAX_TIMELINE_EVENTS} events."
            ));
        }
        out
    }
}
