//! When to retry a model request and how long to wait: 408, 409, 429, 5xx and connection errors
//! are retried with exponential backoff and jitter; `retry-after-ms` / `retry-after` are obeyed up
//! to a maximum; `x-should-retry` overrides; quota and spend-limit errors are never retried.

use reqwest::header::HeaderMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
    /// A server asking for a longer wait than this is not retried.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// The wait the server asked for, if any.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0));
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<f64>() {
        return Some(Duration::from_secs_f64(secs.max(0.0)));
    }
    let when = humantime::parse_rfc3339_weak(v)
        .ok()
        .or_else(|| httpdate(v))?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn httpdate(v: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, mon, year, time, _] = parts.as_slice() else {
        return None;
    };
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| x == mon)? + 1;
    humantime::parse_rfc3339(&format!("{year}-{m:02}-{:0>2}T{time}Z", day)).ok()
}

/// Whether a status may be retried, given `x-should-retry`.
pub fn retryable_status(status: u16, headers: &HeaderMap) -> bool {
    match headers.get("x-should-retry").and_then(|v| v.to_str().ok()) {
        Some("true") => return true,
        Some("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429) || status >= 500
}

/// Quota and spend-limit errors: retrying cannot help.
pub fn is_quota_error(body: &str) -> bool {
    [
        "insufficient_quota",
        "credit_balance",
        "spend_limit",
        "enforced_spend_limit_reached",
        "billing_error",
    ]
    .iter()
    .any(|k| body.contains(k))
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1-based); `None` when the server's wait is too long.
    pub fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        if let Some(d) = headers.and_then(retry_after) {
            return (d <= self.max_retry_after).then_some(d);
        }
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(self.cap);
        let jitter = 1.0 - fastrand::f64() * 0.25;
        Some(exp.mul_f64(jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn server_waits_are_obeyed_and_capped() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, Some(&h)), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(p.delay(1, Some(&h)), Some(Duration::from_millis(150)));
        let mut long = HeaderMap::new();
        long.insert("retry-after", HeaderValue::from_static("600"));
        assert_eq!(p.delay(1, Some(&long)), None);
        let d = p.delay(3, None).unwrap();
        assert!(
            d <= Duration::from_secs(2) && d >= Duration::from_millis(1500),
            "{d:?}"
        );
    }

    #[test]
    fn statuses_and_overrides() {
        let none = HeaderMap::new();
        for s in [408, 409, 429, 500, 503, 529] {
            assert!(retryable_status(s, &none), "{s}");
        }
        for s in [400, 401, 403, 404] {
            assert!(!retryable_status(s, &none), "{s}");
        }
        let mut h = HeaderMap::new();
        h.insert("x-should-retry", HeaderValue::from_static("false"));
        assert!(!retryable_status(503, &h));
        assert!(is_quota_error(r#"{"error":{"type":"insufficient_quota"}}"#));
    }
}
