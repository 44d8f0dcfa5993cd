//! HTTP request counters and the Prometheus text for `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Counts and total latency per (method, route, status). Routes are the matched route
/// patterns (`/v1/ledger/accounts/{id}`), never raw paths, so the label set stays bounded.
/// (method, route, status) → (requests, total microseconds).
type RouteCounters = BTreeMap<(String, String, u16), (u64, u128)>;

#[derive(Default)]
pub struct HttpMetrics {
    by_route: Mutex<RouteCounters>,
}

impl HttpMetrics {
    pub fn record(&self, method: &str, route: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.by_route.lock() {
            let e = m
                .entry((method.to_string(), route.to_string(), status))
                .or_default();
            e.0 += 1;
            e.1 += took.as_micros();
        }
    }

    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP purser_http_requests_total HTTP requests by method, route and status."
        );
        let _ = writeln!(out, "# TYPE purser_http_requests_total counter");
        let snapshot: Vec<_> = match self.by_route.lock() {
            Ok(m) => m.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            Err(_) => Vec::new(),
        };
        for ((method, route, status), (count, _)) in &snapshot {
            let _ = writeln!(
                out,
                "purser_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP purser_http_request_seconds_total Time spent answering HTTP requests."
        );
        let _ = writeln!(out, "# TYPE purser_http_request_seconds_total counter");
        for ((method, route, status), (_, micros)) in &snapshot {
            let _ = writeln!(
                out,
                "purser_http_request_seconds_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {}.{:06}",
                micros / 1_000_000,
                micros % 1_000_000
            );
        }
    }
}
