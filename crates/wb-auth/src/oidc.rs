//! Identity verification with an external OpenID Connect provider (Login.gov / ID.me style):
//! the authorization-code flow with PKCE (S256), `state` and `nonce`, and a checked ID token
//! (signature from the provider's JWKS, issuer, audience, expiry against our clock, nonce), plus
//! an optional required `acr` (identity assurance level), which is also requested with
//! `acr_values`.
//!
//! The provider's metadata and keys are fetched on first use and again once they are older than
//! [`RefreshPolicy::max_age`], or when an ID token names a key id they do not hold (the provider
//! rotated its keys), at most once per [`RefreshPolicy::min_forced_interval`].
//!
//! Every refusal is an [`OidcError`] whose `Display` is a sentence for the person (what went
//! wrong and what to do) and whose [`OidcError::detail`] is the technical reason for the log.
//!
//! The HTTP client follows no redirects and talks only to the configured issuer's endpoints.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreIdTokenVerifier,
    CoreProviderMetadata,
};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, SignatureVerificationError, StandardErrorResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// One configured provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderConfig {
    /// Short id used in URLs, e.g. `login-gov`.
    pub key: String,
    /// What the button says, e.g. "LOGIN.GOV".
    pub name: String,
    /// The line under it, e.g. "For U.S. residents and U.S. citizens".
    #[serde(default)]
    pub description: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// When set, it is requested (`acr_values`) and the ID token's `acr` must equal it (e.g. an
    /// IAL2 value).
    #[serde(default)]
    pub required_acr: Option<String>,
}

/// What must survive between sending the user to the provider and the callback. The web
/// layer keeps it in a signed, short-lived cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub provider: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A verified identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub issuer: String,
    pub subject: String,
    pub acr: Option<String>,
    pub email: Option<String>,
}

/// Why an ID token was refused. `Display` is for the person; the technical reason travels in
/// [`OidcError::InvalidToken`]'s `detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    /// The `nonce` is not the one this browser's verification sent (or is missing).
    #[error(
        "the identity provider's answer belongs to another verification attempt (its nonce does not match the one we sent); choose your provider again"
    )]
    Nonce,
    /// `exp` is not after our clock.
    #[error(
        "the identity provider's answer had expired when it reached us; choose your provider again and finish without a long pause"
    )]
    Expired,
    /// `aud` does not name our client (or names others we do not trust).
    #[error("the identity provider's answer was issued to another application (wrong audience)")]
    Audience,
    /// `iss` is not the configured issuer.
    #[error(
        "the identity provider's answer names another issuer than the provider you chose (wrong issuer)"
    )]
    Issuer,
    /// The signature does not verify with the key the token names.
    #[error(
        "the signature on the identity provider's answer does not match the provider's published keys"
    )]
    Signature,
    /// The token names a key id the provider's published keys do not hold, even after fetching
    /// them again (or a fetch was not allowed yet).
    #[error(
        "the identity provider's answer is signed with a key the provider does not publish (yet); try again in a minute"
    )]
    UnknownKey,
    /// Unsigned (`alg: none`) or signed with an algorithm we do not accept.
    #[error(
        "the identity provider's answer is unsigned or signed with an algorithm we do not accept"
    )]
    Algorithm,
    /// Anything else: unsupported headers, missing claims, encryption.
    #[error("the identity provider's answer is malformed")]
    Malformed,
}

impl TokenProblem {
    fn of(e: &ClaimsVerificationError) -> Self {
        use ClaimsVerificationError as C;
        use SignatureVerificationError as S;
        match e {
            C::Expired(_) => Self::Expired,
            C::InvalidAudience(_) => Self::Audience,
            C::InvalidIssuer(_) => Self::Issuer,
            C::InvalidNonce(_) => Self::Nonce,
            C::SignatureVerification(S::NoMatchingKey) => Self::UnknownKey,
            C::SignatureVerification(
                S::NoSignature | S::DisallowedAlg(_) | S::UnsupportedAlg(_),
            ) => Self::Algorithm,
            C::SignatureVerification(_) => Self::Signature,
            _ => Self::Malformed,
        }
    }
}

/// Why a verification failed. `Display` is a clause for the person ("Your identity could not be
/// verified: …"); [`OidcError::detail`] is for the log.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error(
        "the identity provider could not be reached or described itself wrongly; try again in a few minutes"
    )]
    Discovery { detail: String },
    #[error("the identity provider is not set up correctly for this site")]
    Config { detail: String },
    /// The token endpoint answered `invalid_grant`: the code was used already, expired, or was
    /// issued for another redirect URI, PKCE verifier or client.
    #[error(
        "the identity provider refused the sign-in code (it was already used, has expired or belongs to another attempt); choose your provider again"
    )]
    CodeRefused { detail: String },
    /// The token endpoint could not be reached or answered something else.
    #[error(
        "the identity provider could not complete the verification; try again in a few minutes"
    )]
    TokenExchange { detail: String },
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    #[error("{problem}")]
    InvalidToken {
        problem: TokenProblem,
        detail: String,
    },
    #[error(
        "the identity provider verified you at assurance level {got}, but {required} is required"
    )]
    AcrNotMet { required: String, got: String },
}

impl OidcError {
    /// The technical reason, for the log (`None` when `Display` says it all).
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Discovery { detail }
            | Self::Config { detail }
            | Self::CodeRefused { detail }
            | Self::TokenExchange { detail }
            | Self::InvalidToken { detail, .. } => Some(detail),
            Self::NoIdToken | Self::AcrNotMet { .. } => None,
        }
    }

    /// The token problem, when the ID token was refused.
    pub fn token_problem(&self) -> Option<TokenProblem> {
        match self {
            Self::InvalidToken { problem, .. } => Some(*problem),
            _ => None,
        }
    }
}

/// How long the provider's metadata and keys are used before they are fetched again.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// The least time between two fetches forced by ID tokens naming an unknown key id, so a stream
/// of such tokens cannot make us hammer the provider.
pub const MIN_FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// When the provider's metadata and keys are fetched again (monotonic time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Older metadata and keys are fetched again before use.
    pub max_age: Duration,
    /// An ID token naming a key id we do not hold fetches them again, at most once per this
    /// interval.
    pub min_forced_interval: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            max_age: METADATA_MAX_AGE,
            min_forced_interval: MIN_FORCED_REFRESH_INTERVAL,
        }
    }
}

/// Discovered metadata, with the provider's keys (JWKS) in it.
struct Discovered {
    metadata: CoreProviderMetadata,
    fetched_at: Instant,
}

#[derive(Default)]
struct Cache {
    current: Option<Arc<Discovered>>,
    last_forced: Option<Instant>,
}

type Client = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// A client for one provider; its metadata and keys are cached (see the module docs).
pub struct OidcClient {
    pub config: ProviderConfig,
    policy: RefreshPolicy,
    http: openidconnect::reqwest::Client,
    /// Held across a fetch, so concurrent requests wait for one fetch instead of each making one.
    cache: tokio::sync::Mutex<Cache>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("key", &self.config.key)
            .field("issuer", &self.config.issuer)
            .field("policy", &self.policy)
            .finish()
    }
}

impl OidcClient {
    /// A client with the default [`RefreshPolicy`].
    pub fn new(config: ProviderConfig) -> Self {
        Self::with_refresh_policy(config, RefreshPolicy::default())
    }

    pub fn with_refresh_policy(config: ProviderConfig, policy: RefreshPolicy) -> Self {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(15))
            .build()
            .expect("a reqwest client without custom TLS roots builds");
        Self {
            config,
            policy,
            http,
            cache: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    async fn discover(&self) -> Result<Arc<Discovered>, OidcError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone()).map_err(|e| OidcError::Config {
            detail: format!("issuer URL {:?}: {e}", self.config.issuer),
        })?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| OidcError::Discovery {
                detail: error_chain(&e),
            })?;
        Ok(Arc::new(Discovered {
            metadata,
            fetched_at: Instant::now(),
        }))
    }

    /// The cached metadata and keys, fetched first if there are none or they are too old.
    async fn discovered(&self) -> Result<Arc<Discovered>, OidcError> {
        let mut cache = self.cache.lock().await;
        if let Some(d) = &cache.current
            && d.fetched_at.elapsed() < self.policy.max_age
        {
            return Ok(d.clone());
        }
        let d = self.discover().await?;
        cache.current = Some(d.clone());
        Ok(d)
    }

    /// Metadata and keys newer than `seen`, which lacks the key an ID token names: the ones
    /// another request fetched meanwhile, or a new fetch if none was forced within the policy's
    /// interval. `None` when neither.
    async fn refreshed(
        &self,
        seen: &Arc<Discovered>,
    ) -> Result<Option<Arc<Discovered>>, OidcError> {
        let mut cache = self.cache.lock().await;
        if let Some(current) = &cache.current
            && !Arc::ptr_eq(current, seen)
        {
            return Ok(Some(current.clone()));
        }
        if cache
            .last_forced
            .is_some_and(|at| at.elapsed() < self.policy.min_forced_interval)
        {
            return Ok(None);
        }
        cache.last_forced = Some(Instant::now());
        let d = self.discover().await?;
        cache.current = Some(d.clone());
        Ok(Some(d))
    }

    fn client(&self, discovered: &Discovered, redirect_uri: &str) -> Result<Client, OidcError> {
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| OidcError::Config {
                detail: format!("redirect URI {redirect_uri:?}: {e}"),
            })?;
        Ok(CoreClient::from_provider_metadata(
            discovered.metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL to send the user to (asking for `required_acr`, when
    /// set, with `acr_values`), and what to keep until the callback.
    pub async fn start(&self, redirect_uri: &str) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client(&*self.discovered().await?, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge);
        if let Some(acr) = &self.config.required_acr {
            request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
        }
        let (url, state, nonce) = request.url();
        Ok((
            url.to_string(),
            PendingLogin {
                provider: self.config.key.clone(),
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Exchanges the code and verifies the ID token. `now` (Unix seconds) is the clock the
    /// token's expiry is checked against. A token naming a key id we do not hold makes us
    /// fetch the provider's keys again (within the [`RefreshPolicy`]) and check it once more.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        pending: &PendingLogin,
        code: &str,
        now: i64,
    ) -> Result<VerifiedIdentity, OidcError> {
        let mut discovered = self.discovered().await?;
        let client = self.client(&discovered, redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Config {
                detail: error_chain(&e),
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(token_exchange_error)?;
        let id_token = response.id_token().ok_or(OidcError::NoIdToken)?;
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        let nonce = Nonce::new(pending.nonce.clone());
        // At most two refreshes: one may be another request's fetch that predates the key.
        let mut refreshes = 0;
        let identity = loop {
            let client = self.client(&discovered, redirect_uri)?;
            let verifier = client.id_token_verifier().set_time_fn(move || at);
            match verify_id_token(id_token, &verifier, &nonce) {
                Err(e) if e.token_problem() == Some(TokenProblem::UnknownKey) && refreshes < 2 => {
                    refreshes += 1;
                    match self.refreshed(&discovered).await? {
                        Some(newer) => discovered = newer,
                        None => return Err(e),
                    }
                }
                result => break result?,
            }
        };
        check_acr(self.config.required_acr.as_deref(), identity)
    }
}

/// Checks the ID token's signature, issuer, audience, expiry and nonce.
fn verify_id_token(
    id_token: &CoreIdToken,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: &Nonce,
) -> Result<VerifiedIdentity, OidcError> {
    let claims = id_token
        .claims(verifier, nonce)
        .map_err(|e| OidcError::InvalidToken {
            problem: TokenProblem::of(&e),
            detail: error_chain(&e),
        })?;
    Ok(VerifiedIdentity {
        issuer: claims.issuer().as_str().to_owned(),
        subject: claims.subject().as_str().to_owned(),
        acr: claims.auth_context_ref().map(|a| a.as_str().to_owned()),
        email: claims.email().map(|e| e.as_str().to_owned()),
    })
}

fn check_acr(
    required: Option<&str>,
    identity: VerifiedIdentity,
) -> Result<VerifiedIdentity, OidcError> {
    match required {
        Some(required) if identity.acr.as_deref() != Some(required) => Err(OidcError::AcrNotMet {
            required: required.to_owned(),
            got: identity.acr.unwrap_or_else(|| "none".into()),
        }),
        _ => Ok(identity),
    }
}

fn token_exchange_error<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, StandardErrorResponse<CoreErrorResponseType>>,
) -> OidcError {
    let detail = error_chain(&e);
    match &e {
        RequestTokenError::ServerResponse(r) => match r.error() {
            CoreErrorResponseType::InvalidGrant => OidcError::CodeRefused { detail },
            CoreErrorResponseType::InvalidClient | CoreErrorResponseType::UnauthorizedClient => {
                OidcError::Config { detail }
            }
            _ => OidcError::TokenExchange { detail },
        },
        _ => OidcError::TokenExchange { detail },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    //! The ID token checks and their reasons, on tokens signed here with a fixed test RSA key
    //! (the wrong issuer and audience cases cannot be had from a conforming provider; the cases a
    //! real provider produces are also tested against one in wb-web's `access::oidc`).

    use openidconnect::core::{
        CoreGenderClaim, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
        CoreRsaPrivateSigningKey,
    };
    use openidconnect::{
        Audience, EmptyAdditionalClaims, JsonWebKeyId, PrivateSigningKey, StandardClaims,
        SubjectIdentifier,
    };

    use super::*;

    /// A 2048-bit RSA key made for these tests only (`openssl genrsa -traditional 2048`).
    const TEST_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA38+/C6mVvuBTQfHtf6mh7jRbYWP9ecTn3lyhbiKPW8ZIaPpB
b0WPIBK5LMaYr4HQkQTTM6IFeAazDfHFjONQ7Su03WXULPN5L/Y6Y3pIFd+YFhR2
oON8Lrm6yL2TiBVhuGBKhy6xST0KCRIp27JRo3nXYQUgffrZVTQEyV3IF58eee/r
eUPjHVZTtuN7Eru1ktJNOo+MKywhFIacKzw9uDdMUJbPVyGPLdsFIvdz7gVKVomc
CPFyUD1zC0TXdD/Kcmloq7eELVY0q0KJTwNs89fQgmz/8sWOvSLcFb4uxtI1Umyp
lu945AFrsV884TA2yYgFZIflA/j4+b2CaRTu9QIDAQABAoIBACE9TCEaCFqfG9Zj
LRPk+F71iS3LaSGc2Bfq93GxMcveRLJMmovBT6qihTxsaVBFjhl/lzNnqHrFOfID
+oQ8XXA/6b5o6Wxco563KcBM8KhI+yAqXVzzNCYHYQF/wEm5bTgyGtd9XIilR1iG
CU/u6ZeHGLD4zzTOnNj93wkeA8HYEXLT2T5GczyM9KtgSPbvOrWT5AOIfhvN/Rky
zP/B5HLuku42kBavEOAgrL5OBmY1KIaoDuM9FXdNHcHXIlKVOrRyGtzzNgRNDL9O
rdt3cPZYcffm7OwE7jZfCVO6QGF3rcR1jcVMt6H6TjzOFCPlV/oBTOah7Rp6KtQC
xgkA+pkCgYEA/x8tcGF8mDXdTvQPye2Ow3p8vntxq+YtGr9MQ08XqggTGJG0mHw5
O6QdtppZoCNVeJQT0I/k8yOB0Rig/R5lfR9Anc9mboUMwNJhErxwYhxR5wA8A7Gt
KUcw2AIFMRsh0j8VpRGYtPEjhOnVI5HlDjAJuTjfLetvkJG/WmOXwu0CgYEA4JT6
Hrfq0AXrGJIQoWDSjnTfrZLzF8BhiIi3R/P7RylfFqRWxLgsFZD/VXA4pyHQ3iVd
dUZTskZyeSKtG1PVLccuQUnmf43JS/bupisEZBUNMVXtteRzqdE0ks8RGt9xQcs4
FLhMb++vmTMyW7IVMpkhiMcbJANnIqmxBpQHsykCgYEAktUH2vFQu23s9J8FY0ul
ah5aI2t6zdvJQ+ar5uVjkknZa7+YeFauvgPD0i/du4v6ik53ZQccV0+tTIHnTicr
dCsDjpAqvRs4btXmZtkruVvhS5lX8SxWpDZEB16KTGv4OEB0na+V+zX6ImpOcI1s
jpDZV9BCqvQhHsyznDtLwjUCgYBFqdCgQLqkxoEzgPOJq4gEynor1F51qqZWfNol
hqgWXd3yHw4PPXXnRq/9Z68bIOEyV3LTEvqZXULbEoeR54JEDfnqJKtMO8YKO1Gx
17wn82PBPv9aob/DGHLvay3KIS93kjsWKkkDm9zjb78aNHZg2KFPVTu1Ax014l9Y
RAjTaQKBgE7kzVUHEjwxUAG0CJ18JLJmd4W1SqNKbZZjoOgMbg/aVVufG/6GRNpI
iVeKooX+WwDNZDH0zuS9DMnE/91/PHvKpsnGgdGJLaasYlg0SS1PqfXhlgQgoaX1
KcOFemA4VqSydLijGDqyAr5HSl+ha8AuQjW7Ov4NtfEJRBZvbB+y
-----END RSA PRIVATE KEY-----
";

    const ISSUER: &str = "https://idp.example.org";
    const CLIENT: &str = "workbench";
    const NOW: i64 = 1_790_000_000;

    fn key(kid: &str) -> CoreRsaPrivateSigningKey {
        CoreRsaPrivateSigningKey::from_pem(TEST_KEY, Some(JsonWebKeyId::new(kid.into()))).unwrap()
    }

    /// The verifier `finish` uses, for a provider publishing the test key as `kid-1`.
    fn verifier() -> CoreIdTokenVerifier<'static> {
        let jwks = CoreJsonWebKeySet::new(vec![key("kid-1").as_verification_key()]);
        let at = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
        CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(CLIENT.into()),
            ClientSecret::new("secret".into()),
            IssuerUrl::new(ISSUER.into()).unwrap(),
            jwks,
        )
        .set_time_fn(move || at)
    }

    struct Claims {
        iss: &'static str,
        aud: &'static str,
        exp: i64,
        nonce: Option<&'static str>,
        acr: Option<&'static str>,
    }

    fn good() -> Claims {
        Claims {
            iss: ISSUER,
            aud: CLIENT,
            exp: NOW + 300,
            nonce: Some("n-1"),
            acr: Some("ial2"),
        }
    }

    fn signed(c: Claims, kid: &str) -> CoreIdToken {
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(c.iss.into()).unwrap(),
            vec![Audience::new(c.aud.into())],
            chrono::DateTime::from_timestamp(c.exp, 0).unwrap(),
            chrono::DateTime::from_timestamp(NOW - 10, 0).unwrap(),
            StandardClaims::<CoreGenderClaim>::new(SubjectIdentifier::new("ada".into())),
            EmptyAdditionalClaims {},
        )
        .set_nonce(c.nonce.map(|n| Nonce::new(n.into())))
        .set_auth_context_ref(c.acr.map(|a| AuthenticationContextClass::new(a.into())));
        CoreIdToken::new(
            claims,
            &key(kid),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .unwrap()
    }

    fn problem(token: &CoreIdToken) -> TokenProblem {
        let e = verify_id_token(token, &verifier(), &Nonce::new("n-1".into())).unwrap_err();
        // The log line names the technical reason too.
        assert!(e.detail().is_some_and(|d| !d.is_empty()), "{e:?}");
        e.token_problem()
            .unwrap_or_else(|| panic!("not a token problem: {e:?}"))
    }

    /// `token` with its payload replaced by the JSON `payload`, and its header by `header` if
    /// given (then without a signature; otherwise the old signature stays).
    fn with_header_and_payload(
        token: &CoreIdToken,
        header: Option<&str>,
        payload: &str,
    ) -> CoreIdToken {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let s = token.to_string();
        let parts: Vec<&str> = s.split('.').collect();
        let header = header.map_or(parts[0].to_owned(), |h| b64.encode(h));
        let signature = if header == parts[0] { parts[2] } else { "" };
        format!("{header}.{}.{signature}", b64.encode(payload))
            .parse()
            .unwrap()
    }

    fn payload_of(token: &CoreIdToken) -> serde_json::Value {
        use base64::Engine;
        let s = token.to_string();
        let part = s.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part)
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn a_good_token_gives_the_identity() {
        let id = verify_id_token(
            &signed(good(), "kid-1"),
            &verifier(),
            &Nonce::new("n-1".into()),
        )
        .unwrap();
        assert_eq!(
            id,
            VerifiedIdentity {
                issuer: ISSUER.into(),
                subject: "ada".into(),
                acr: Some("ial2".into()),
                email: None,
            }
        );
    }

    #[test]
    fn each_bad_token_names_its_own_problem() {
        let cases = [
            (
                "another nonce",
                signed(
                    Claims {
                        nonce: Some("n-2"),
                        ..good()
                    },
                    "kid-1",
                ),
                TokenProblem::Nonce,
            ),
            (
                "no nonce",
                signed(
                    Claims {
                        nonce: None,
                        ..good()
                    },
                    "kid-1",
                ),
                TokenProblem::Nonce,
            ),
            (
                "expired",
                signed(Claims { exp: NOW, ..good() }, "kid-1"),
                TokenProblem::Expired,
            ),
            (
                "issued to another client",
                signed(
                    Claims {
                        aud: "another-app",
                        ..good()
                    },
                    "kid-1",
                ),
                TokenProblem::Audience,
            ),
            (
                "from another issuer",
                signed(
                    Claims {
                        iss: "https://evil.example.org",
                        ..good()
                    },
                    "kid-1",
                ),
                TokenProblem::Issuer,
            ),
            (
                "signed with a key id the provider does not publish",
                signed(good(), "kid-2"),
                TokenProblem::UnknownKey,
            ),
        ];
        for (what, token, want) in cases {
            assert_eq!(problem(&token), want, "{what}");
        }
    }

    #[test]
    fn a_tampered_payload_fails_the_signature() {
        let token = signed(good(), "kid-1");
        let mut payload = payload_of(&token);
        payload["sub"] = "grace".into();
        let forged = with_header_and_payload(&token, None, &payload.to_string());
        assert_eq!(problem(&forged), TokenProblem::Signature);
    }

    #[test]
    fn an_unsigned_or_hmac_token_is_refused_for_its_algorithm() {
        let token = signed(good(), "kid-1");
        let payload = payload_of(&token).to_string();
        let none = with_header_and_payload(&token, Some(r#"{"alg":"none"}"#), &payload);
        assert_eq!(problem(&none), TokenProblem::Algorithm);
        let hs256 = with_header_and_payload(&token, Some(r#"{"alg":"HS256"}"#), &payload);
        assert_eq!(problem(&hs256), TokenProblem::Algorithm);
    }

    #[test]
    fn each_problem_has_its_own_message() {
        let all = [
            TokenProblem::Nonce,
            TokenProblem::Expired,
            TokenProblem::Audience,
            TokenProblem::Issuer,
            TokenProblem::Signature,
            TokenProblem::UnknownKey,
            TokenProblem::Algorithm,
            TokenProblem::Malformed,
        ];
        let messages: std::collections::BTreeSet<String> =
            all.iter().map(|p| p.to_string()).collect();
        assert_eq!(messages.len(), all.len(), "{messages:?}");
        let e = OidcError::InvalidToken {
            problem: TokenProblem::Expired,
            detail: "Expired: ID token expired at …".into(),
        };
        assert_eq!(e.to_string(), TokenProblem::Expired.to_string());
        assert_eq!(e.detail(), Some("Expired: ID token expired at …"));
    }

    #[test]
    fn the_required_acr_must_be_met() {
        let id = |acr: Option<&str>| VerifiedIdentity {
            issuer: ISSUER.into(),
            subject: "ada".into(),
            acr: acr.map(Into::into),
            email: None,
        };
        assert_eq!(
            check_acr(Some("ial2"), id(Some("ial2"))).unwrap(),
            id(Some("ial2"))
        );
        assert_eq!(check_acr(None, id(None)).unwrap(), id(None));
        for (got, shown) in [(Some("ial1"), "ial1"), (None, "none")] {
            let e = check_acr(Some("ial2"), id(got)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!(
                    "the identity provider verified you at assurance level {shown}, but ial2 is required"
                )
            );
        }
    }

    /// Forced refreshes against the running test provider (`WB_TEST_OIDC_ISSUER`, started by
    /// scripts/test; skipped without it): one per interval, none when another request already
    /// fetched newer keys.
    #[test]
    #[ignore = "needs an OpenID Connect provider: set WB_TEST_OIDC_ISSUER (scripts/test starts one and runs these)"]
    fn forced_refreshes_are_bounded_per_interval() {
        let Ok(issuer) = std::env::var("WB_TEST_OIDC_ISSUER") else {
            assert!(
                std::env::var("WB_TEST_REQUIRE_PEERS").as_deref() != Ok("1"),
                "WB_TEST_REQUIRE_PEERS=1 but WB_TEST_OIDC_ISSUER is not set"
            );
            eprintln!("WB_TEST_OIDC_ISSUER not set: skipping");
            return;
        };
        let interval = Duration::from_millis(500);
        let client = OidcClient::with_refresh_policy(
            ProviderConfig {
                key: "id-me".into(),
                name: "ID.me".into(),
                description: String::new(),
                issuer,
                client_id: "workbench-idme".into(),
                client_secret: "idme-secret".into(),
                required_acr: None,
            },
            RefreshPolicy {
                min_forced_interval: interval,
                ..RefreshPolicy::default()
            },
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let first = client.discovered().await.unwrap();
            // Within the max age the cache answers.
            assert!(Arc::ptr_eq(&first, &client.discovered().await.unwrap()));
            // The first forced refresh fetches.
            let second = client.refreshed(&first).await.unwrap().unwrap();
            assert!(!Arc::ptr_eq(&first, &second));
            assert!(Arc::ptr_eq(&second, &client.discovered().await.unwrap()));
            // A request still holding the old ones gets the newer ones, without a fetch.
            let again = client.refreshed(&first).await.unwrap().unwrap();
            assert!(Arc::ptr_eq(&again, &second));
            // Within the interval, no second forced fetch.
            assert!(client.refreshed(&second).await.unwrap().is_none());
            assert!(client.refreshed(&second).await.unwrap().is_none());
            // After it, one again.
            tokio::time::sleep(interval).await;
            let third = client.refreshed(&second).await.unwrap().unwrap();
            assert!(!Arc::ptr_eq(&second, &third));
            assert!(third.fetched_at > second.fetched_at);
            assert!(client.refreshed(&third).await.unwrap().is_none());
        });
    }

    #[test]
    fn a_bad_issuer_url_is_a_configuration_error() {
        let client = OidcClient::new(ProviderConfig {
            key: "x".into(),
            name: "X".into(),
            description: String::new(),
            issuer: "not a url".into(),
            client_id: CLIENT.into(),
            client_secret: "secret".into(),
            required_acr: None,
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let e = rt
            .block_on(client.start("http://127.0.0.1:1/identity/callback"))
            .unwrap_err();
        assert!(matches!(e, OidcError::Config { .. }), "{e:?}");
        assert!(e.detail().unwrap().contains("not a url"), "{e:?}");
    }
}
