//! The middleware in front of the standalone dashboard: the `Host` check
//! on loopback, then the login, with failed attempts rate-limited per
//! client address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ork_dashboard::Actor;
use serde_json::json;

use super::auth::Login;

/// Failed logins a client may make in a burst.
const BURST: f64 = 5.0;
/// Failed logins a client earns back per second.
const REFILL_PER_SEC: f64 = 1.0;
/// Past this many clients tracked, those back to a full allowance are dropped.
const TRACKED: usize = 10_000;

/// What the middleware shares.
#[derive(Debug)]
pub(crate) struct Guard {
    login: Login,
    /// Whether the server listens on loopback only (then `Host` is checked).
    loopback: bool,
    /// Per client address: failed logins still allowed, as of when.
    allowance: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Guard {
    pub(crate) fn new(login: Login, loopback: bool) -> Guard {
        Guard {
            login,
            loopback,
            allowance: Mutex::new(HashMap::new()),
        }
    }

    /// `ip`'s allowance now, refilled for the time since it was last seen.
    fn allowance(map: &mut HashMap<IpAddr, (f64, Instant)>, ip: IpAddr, now: Instant) -> f64 {
        let (left, at) = map.get(&ip).copied().unwrap_or((BURST, now));
        let refilled = left + now.duration_since(at).as_secs_f64() * REFILL_PER_SEC;
        refilled.min(BURST)
    }

    /// Whether `ip` has used up its failed logins.
    fn locked_out(&self, ip: IpAddr) -> bool {
        let mut map = self.allowance.lock().unwrap_or_else(|e| e.into_inner());
        Self::allowance(&mut map, ip, Instant::now()) < 1.0
    }

    /// Counts one failed login of `ip`.
    fn failed(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.allowance.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= TRACKED {
            map.retain(|_, (left, at)| {
                *left + now.duration_since(*at).as_secs_f64() * REFILL_PER_SEC < BURST
            });
        }
        let left = Self::allowance(&mut map, ip, now);
        map.insert(ip, ((left - 1.0).max(0.0), now));
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// Host check, rate limit, login; a logged-in request carries its
/// [`Actor`] on to the dashboard, which audits actions under it.
pub(crate) async fn check(
    State(guard): State<Arc<Guard>>,
    mut request: Request,
    next: Next,
) -> Response {
    if guard.loopback {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !is_loopback_host(host) {
            return refuse(
                StatusCode::FORBIDDEN,
                format!("refused: Host `{host}` is not a loopback address (the dashboard listens on loopback)"),
            );
        }
    }
    if matches!(guard.login, Login::None) {
        return next.run(request).await;
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if ip.is_some_and(|ip| guard.locked_out(ip)) {
        let mut response = refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins from this address: wait a few seconds".into(),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return response;
    }
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let tried = authorization.is_some();
    match guard.login.verify(authorization) {
        Some(actor) => {
            request.extensions_mut().insert(Actor(actor));
            next.run(request).await
        }
        None => {
            if let (true, Some(ip)) = (tried, ip) {
                guard.failed(ip);
                tracing::warn!(client = %ip, "dashboard: failed login");
            }
            let mut response = refuse(StatusCode::UNAUTHORIZED, "login required".into());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(guard.login.challenge()),
            );
            response
        }
    }
}

/// `localhost`, `127.0.0.1:7000`, `[::1]:7000` and the like.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((n, port)) if !n.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => n,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:7000",
            "127.0.0.1:7000",
            "[::1]:7000",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:7000",
            "10.0.0.1:7000",
            "localhost.evil:80",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn failed_logins_use_up_an_allowance_per_address() {
        let guard = Guard::new(Login::Token(b"0123456789abcdef".to_vec()), false);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let mut failures = 0;
        while !guard.locked_out(a) {
            guard.failed(a);
            failures += 1;
            assert!(failures <= 1000, "never locked out");
        }
        assert!(failures >= BURST as usize, "{failures}");
        assert!(!guard.locked_out(b), "another address is not");
    }
}
