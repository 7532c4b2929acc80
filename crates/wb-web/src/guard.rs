//! The checks every request passes, and the extractors that say what a handler needs.
//!
//! [`request_context`] runs first on every request. It reads the session and pre-session
//! cookies, refuses any state-changing request that does not carry this site's CSRF token
//! (and any that a browser marks as cross-site), and adds the security headers to every
//! response. Handlers then take [`SignedIn`], [`PasswordChangePending`] or [`Visitor`], which
//! check the session against the database on every request: nothing about a user's rights is
//! cached in the cookie.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use wb_store::{SessionStage, UserRecord};

use crate::error::{WebError, error_page};
use crate::state::AppState;

/// Form field and header that carry the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Facts about the request, put in its extensions by [`request_context`].
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The session cookie's value, if the browser sent one (it may be stale).
    pub session_token: Option<String>,
    /// A random per-browser value that binds CSRF tokens before sign-in.
    pub pre_token: String,
    pub ip: String,
    pub user_agent: Option<String>,
    pub csrf: String,
}

impl AppState {
    pub fn session_cookie_name(&self) -> &'static str {
        if self.config.secure_cookies() {
            "__Host-wb_session"
        } else {
            "wb_session"
        }
    }

    fn pre_cookie_name(&self) -> &'static str {
        if self.config.secure_cookies() {
            "__Host-wb_pre"
        } else {
            "wb_pre"
        }
    }

    /// The CSRF token for forms rendered for a browser with these cookies.
    pub fn csrf_token(&self, session_token: Option<&str>, pre_token: &str) -> String {
        match session_token {
            Some(s) => self.signer.tag("csrf-session", s),
            None => self.signer.tag("csrf-pre", pre_token),
        }
    }

    /// A cookie with the attributes every workbench cookie has.
    pub fn cookie(&self, name: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .secure(self.config.secure_cookies())
            .same_site(SameSite::Lax)
            .max_age(time_duration(max_age_secs))
            .build()
    }

    pub fn session_cookie(&self, token: String) -> Cookie<'static> {
        self.cookie(
            self.session_cookie_name(),
            token,
            self.config.sessions.absolute_hours * 3600,
        )
    }

    pub fn expired_session_cookie(&self) -> Cookie<'static> {
        self.cookie(self.session_cookie_name(), String::new(), 0)
    }
}

fn time_duration(secs: i64) -> time::Duration {
    time::Duration::seconds(secs)
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

fn is_cross_site(headers: &HeaderMap, public_url: &str) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site == "cross-site"
    {
        return true;
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let own = url::Url::parse(public_url)
            .ok()
            .map(|u| u.origin().ascii_serialization());
        let origin_host = url::Url::parse(origin).ok().and_then(|u| {
            Some(format!(
                "{}{}",
                u.host_str()?,
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            ))
        });
        return origin != "null"
            && Some(origin.to_owned()) != own
            && origin_host.as_deref() != Some(host);
    }
    false
}

fn csrf_failure() -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "This form could not be accepted",
        "The form was not sent from this site, or it was open too long and its security token \
         no longer matches your session. Nothing was changed. Go back, reload the page and try \
         again.",
    )
}

/// The middleware every request passes. See the module documentation.
pub async fn request_context(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let session_token = cookie_value(&parts.headers, state.session_cookie_name());
    let existing_pre = cookie_value(&parts.headers, state.pre_cookie_name());
    let pre_token = existing_pre.clone().unwrap_or_else(wb_auth::random_token);
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| {
            let forwarded: Vec<&str> = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            client_ip(c.0.ip(), &forwarded, &state.trusted_proxies).to_string()
        })
        .unwrap_or_else(|| "unknown".into());
    let csrf = state.csrf_token(session_token.as_deref(), &pre_token);
    let session_token_for_check = session_token.clone();
    let ctx = RequestContext {
        session_token,
        pre_token: pre_token.clone(),
        ip,
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect()),
        csrf: csrf.clone(),
    };
    parts.extensions.insert(ctx);

    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let api = parts.uri.path().starts_with("/api/");
    // Every answer gets the security headers, the refusals below included; API paths answer
    // in JSON.
    let finish = |response: Response, set_pre: Option<String>| {
        let response = if api {
            as_api_error(response)
        } else {
            response
        };
        with_headers(&state, response, set_pre)
    };
    if parts.method == Method::TRACE {
        return finish(
            error_page(
                StatusCode::METHOD_NOT_ALLOWED,
                "Not allowed",
                "The workbench does not answer this kind of request.",
            ),
            None,
        );
    }
    let request = if unsafe_method {
        if is_cross_site(&parts.headers, &state.config.http.public_url) {
            return finish(csrf_failure(), None);
        }
        let bytes = match axum::body::to_bytes(body, 256 * 1024).await {
            Ok(b) => b,
            Err(_) => {
                return finish(
                    error_page(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "Too much data",
                        "The form sent more data than the workbench accepts (256 KiB). Nothing \
                         was changed.",
                    ),
                    None,
                );
            }
        };
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                url::form_urlencoded::parse(&bytes)
                    .find(|(k, _)| k == CSRF_FIELD)
                    .map(|(_, v)| v.into_owned())
            });
        let ok = sent.is_some_and(|t| match &session_token_for_check {
            Some(tok) => state.signer.verify_tag("csrf-session", tok, &t),
            None => state.signer.verify_tag("csrf-pre", &pre_token, &t),
        });
        if !ok {
            return finish(csrf_failure(), None);
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        Request::from_parts(parts, body)
    };
    let response = next.run(request).await;
    let set_pre = existing_pre.is_none().then_some(pre_token);
    finish(response, set_pre)
}

/// An error answer on an API path that is not JSON yet (an unknown path, a wrong method, a
/// refused form token, too much data) becomes the API's JSON error with the same status.
fn as_api_error(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (error, message) = match status {
        StatusCode::NOT_FOUND => ("not_found", "There is no API resource at this path."),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "This API resource does not accept this method.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("too_large", "The request body is over 256 KiB."),
        StatusCode::FORBIDDEN => (
            "forbidden",
            "Refused: a state-changing call needs the x-csrf-token header of your session and \
             must come from this site.",
        ),
        _ => ("error", "The request could not be answered."),
    };
    let mut r = (
        status,
        axum::Json(serde_json::json!({ "error": error, "message": message })),
    )
        .into_response();
    if let Some(allow) = response.headers().get(header::ALLOW) {
        r.headers_mut().insert(header::ALLOW, allow.clone());
    }
    r
}

fn with_headers(state: &AppState, mut response: Response, set_pre: Option<String>) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&state.content_security_policy) {
        h.insert("content-security-policy", v);
    }
    let fixed: [(&str, &str); 5] = [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (k, v) in fixed {
        h.insert(k, HeaderValue::from_static(v));
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.secure_cookies() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    if let Some(pre) = set_pre {
        let c = state.cookie(state.pre_cookie_name(), pre, 7 * 24 * 3600);
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, WebError> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| WebError::BadRequest("missing request context".into()))
    }
}

/// A signed-in session as found in the database.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub token_hash: String,
    pub stage: SessionStage,
    pub user: UserRecord,
    pub ctx: RequestContext,
}

async fn load_session(parts: &mut Parts, state: &AppState) -> Result<Option<Session>, WebError> {
    let ctx = RequestContext::from_request_parts(parts, state).await?;
    let Some(token) = ctx.session_token.clone() else {
        return Ok(None);
    };
    let now = state.now();
    let idle = state.config.sessions.idle_minutes * 60;
    let Some(rec) = state
        .store
        .live_session(&wb_auth::sha256_hex(&token), now, idle)
        .await?
    else {
        return Ok(None);
    };
    let Some(user) = state.store.user_by_id(rec.user_id).await? else {
        return Ok(None);
    };
    if user.disabled {
        state
            .store
            .delete_session(&wb_auth::sha256_hex(&token))
            .await?;
        return Ok(None);
    }
    Ok(Some(Session {
        token_hash: wb_auth::sha256_hex(&token),
        token,
        stage: rec.stage,
        user,
        ctx,
    }))
}

/// Where to send someone who must sign in to see `parts`' page.
fn to_sign_in(parts: &Parts) -> Response {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
    Redirect::to(&format!("/sign-in?next={next}")).into_response()
}

/// A fully signed-in user (password changed). Anyone else is redirected: to "Sign In", or to
/// "Change Your Password" when the session still has a temporary password.
pub struct SignedIn(pub Session);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match load_session(parts, state)
            .await
            .map_err(IntoResponse::into_response)?
        {
            Some(s) if s.stage == SessionStage::Active => Ok(SignedIn(s)),
            Some(s) if s.stage == SessionStage::SecondFactor => {
                Err(Redirect::to("/sign-in/verify").into_response())
            }
            Some(_) => Err(Redirect::to("/change-password").into_response()),
            None => Err(to_sign_in(parts)),
        }
    }
}

/// A session past the second factor, including one that must still change its temporary
/// password.
pub struct AnySession(pub Session);

impl FromRequestParts<AppState> for AnySession {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match load_session(parts, state)
            .await
            .map_err(IntoResponse::into_response)?
        {
            Some(s) if s.stage == SessionStage::SecondFactor => {
                Err(Redirect::to("/sign-in/verify").into_response())
            }
            Some(s) => Ok(AnySession(s)),
            None => Err(to_sign_in(parts)),
        }
    }
}

/// A session whose password was right and whose second factor is still due.
pub struct SecondFactorPending(pub Session);

impl FromRequestParts<AppState> for SecondFactorPending {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match load_session(parts, state)
            .await
            .map_err(IntoResponse::into_response)?
        {
            Some(s) if s.stage == SessionStage::SecondFactor => Ok(SecondFactorPending(s)),
            Some(_) => Err(Redirect::to("/data-access-requirements").into_response()),
            None => Err(to_sign_in(parts)),
        }
    }
}

/// Whoever is visiting: signed in or not.
pub struct Visitor {
    pub session: Option<Session>,
    pub ctx: RequestContext,
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let ctx = RequestContext::from_request_parts(parts, state).await?;
        let session = load_session(parts, state).await?;
        Ok(Visitor { session, ctx })
    }
}

/// Accepts only a path on this site for `next=` redirects, and returns it as parsed: it must
/// start with one `/`, hold no control characters, spaces or backslashes (browsers drop tabs
/// and newlines and read `\` as `/`, so `/\t/evil.example` would become `//evil.example`),
/// and resolve against this site without changing the origin. Anything else: `None` (home).
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    if !n.starts_with('/')
        || n.starts_with("//")
        || n.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    let base = url::Url::parse("http://workbench.invalid/").ok()?;
    let joined = base.join(n).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    let mut out = joined.path().to_owned();
    if out.starts_with("//") {
        return None;
    }
    if let Some(q) = joined.query() {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// An IP address range from configuration (`10.0.0.0/8`, `::1`, `192.0.2.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net: addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The client's address: the socket peer, unless the peer is a trusted proxy; then the
/// nearest address in `X-Forwarded-For` (read from the right) that is not a trusted proxy. A
/// value that does not parse stops the walk at the last trusted hop, so a client cannot
/// smuggle an address past the proxies.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let peer = peer.to_canonical();
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            return client;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_path_on_this_site_only() {
        assert_eq!(safe_next(Some("/people/ada")), Some("/people/ada".into()));
        assert_eq!(
            safe_next(Some("/workspaces/x/about?tab=1")),
            Some("/workspaces/x/about?tab=1".into())
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "evil",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            " /x",
            "/x y",
            "/\u{0}x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        // Dot segments are resolved, and cannot climb to another origin.
        assert_eq!(safe_next(Some("/a/../b")), Some("/b".into()));
        assert_eq!(safe_next(Some("/..//evil.example")), None);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(ip("10.200.3.4")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.1.1.1")), "IPv4-mapped IPv6");
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "hello", "10.0.0/8", "::1/129"] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let trusted = [Cidr::parse("10.0.0.0/8").unwrap()];
        // Not from a proxy: the header is ignored (anyone can send it).
        assert_eq!(
            client_ip(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // From the proxy: the nearest untrusted hop, read from the right.
        assert_eq!(
            client_ip(
                ip("10.0.0.2"),
                &["198.51.100.1, 203.0.113.5, 10.0.0.7"],
                &trusted
            ),
            ip("203.0.113.5")
        );
        // Several headers are one list.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["198.51.100.1", "203.0.113.5"], &trusted),
            ip("203.0.113.5")
        );
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["203.0.113.5, nonsense"], &trusted),
            ip("10.0.0.2")
        );
        // No proxies configured: always the peer.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &["203.0.113.5"], &[]),
            ip("10.0.0.2")
        );
    }
}
