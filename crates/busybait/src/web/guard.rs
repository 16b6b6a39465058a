//! Who may see the console, and what the browser may do with its pages.
//!
//! Every response carries a strict Content-Security-Policy (no inline script or
//! style; WebAssembly only for the replay player), `nosniff`, `frame-ancestors
//! 'none'` and no referrer. A request whose `Host` is not the console's (a page
//! elsewhere that rebound its DNS name to 127.0.0.1) or whose `Origin` is another
//! site's is refused. With an access token set, every page but the login form needs
//! the session cookie the form hands out: the token is compared in constant time
//! and never travels in a URL.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::html;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{layout, Console, WebConfig};

/// The policy every response carries. `wasm-unsafe-eval` is what asciinema-player
/// 3.x needs to instantiate its WebAssembly; nothing else runs but the console's
/// own files.
pub(crate) const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// The cookie the login form hands out.
const COOKIE: &str = "busybait_console";
/// Largest request body (the login form) accepted.
pub(crate) const MAX_FORM_BYTES: usize = 4096;

/// The console's access rules.
pub(crate) struct Access {
    /// SHA-256 of the token, when one is set (compared hash to hash, so neither
    /// the length nor the bytes leak through timing).
    token: Option<[u8; 32]>,
    /// The session cookie's value: random, made at start (a restart logs everyone
    /// out), compared in constant time.
    session: String,
    /// `Host` values accepted; empty accepts any.
    hosts: Vec<String>,
    /// Mark the cookie `Secure` (TLS of its own, or a TLS proxy in front).
    secure: bool,
}

impl Access {
    pub(crate) fn new(
        token: Option<String>,
        local: SocketAddr,
        config: &WebConfig,
    ) -> anyhow::Result<Self> {
        let mut random = [0u8; 32];
        getrandom::fill(&mut random)
            .map_err(|e| anyhow::anyhow!("making the console's session secret: {e}"))?;
        let hosts = if local.ip().is_loopback() {
            let port = local.port();
            vec![
                local.to_string(),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
                format!("[::1]:{port}"),
            ]
        } else {
            config.hostnames.clone()
        };
        Ok(Self {
            token: token.map(|t| Sha256::digest(t.as_bytes()).into()),
            session: hex(&random),
            hosts,
            secure: config.behind_proxy || config.tls_cert.is_some(),
        })
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.is_empty() || self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    fn token_matches(&self, given: &str) -> bool {
        let given: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        self.token
            .is_some_and(|want| bool::from(want.as_slice().ct_eq(given.as_slice())))
    }

    fn has_session(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .any(|(name, value)| {
                name == COOKIE && bool::from(value.as_bytes().ct_eq(self.session.as_bytes()))
            })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The middleware in front of every route.
pub(crate) async fn check(
    State(console): State<Arc<Console>>,
    request: Request,
    next: Next,
) -> Response {
    let access = &console.access;
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let mut response = if !access.host_allowed(host) {
        refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "This console does not answer to that host name.",
        )
    } else if !same_origin(headers, host, request.method()) {
        refuse(StatusCode::FORBIDDEN, "Cross-origin requests are refused.")
    } else if access.token.is_some()
        && !is_public(request.uri().path())
        && !access.has_session(headers)
    {
        if request.method() == Method::GET {
            Redirect::to("/login").into_response()
        } else {
            refuse(StatusCode::UNAUTHORIZED, "Log in first.")
        }
    } else {
        next.run(request).await
    };
    harden(response.headers_mut());
    response
}

/// Pages shown without a session: the login form and the static files (no data).
fn is_public(path: &str) -> bool {
    path == "/login" || path.starts_with("/static/")
}

/// Whether a request may come from where it says: an `Origin`, when sent, must be
/// this console's; a request that changes something must send one (browsers do).
fn same_origin(headers: &HeaderMap, host: &str, method: &Method) -> bool {
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) => {
            let bare = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            bare.is_some_and(|o| o.eq_ignore_ascii_case(host))
        }
        None => method == Method::GET || method == Method::HEAD,
    }
}

/// The headers every response carries.
fn harden(headers: &mut HeaderMap) {
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            header::HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

fn refuse(status: StatusCode, why: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        why,
    )
        .into_response()
}

/// `GET /login`.
pub(crate) async fn login_form(State(console): State<Arc<Console>>) -> Response {
    if console.access.token.is_none() {
        return Redirect::to("/").into_response();
    }
    form(None).into_response()
}

fn form(problem: Option<&str>) -> maud::Markup {
    layout::page(
        "Log in",
        layout::Nav::None,
        html! {
            h1 { "Log in" }
            @if let Some(p) = problem { p.problem { (p) } }
            form method="post" action="/login" {
                label for="token" { "Access token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        },
    )
}

/// The login form's one field.
#[derive(serde::Deserialize)]
pub(crate) struct Login {
    token: String,
}

/// A wrong token waits this long before the answer, to slow guessing.
const FAILED_LOGIN_DELAY: std::time::Duration = std::time::Duration::from_millis(500);

/// `POST /login`: the token for a session cookie.
pub(crate) async fn login(
    State(console): State<Arc<Console>>,
    Form(login): Form<Login>,
) -> Response {
    let access = &console.access;
    if access.token.is_none() {
        return Redirect::to("/").into_response();
    }
    if !access.token_matches(&login.token) {
        tracing::warn!("console: a wrong access token was given");
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        return (
            StatusCode::UNAUTHORIZED,
            form(Some("That token is not right.")),
        )
            .into_response();
    }
    let secure = if access.secure { "; Secure" } else { "" };
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
        access.session
    );
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}
