//! Identity verification with an external OpenID Connect provider (Login.gov / ID.me style):
//! the authorization-code flow with PKCE (S256), `state` and `nonce`, and a checked ID token
//! (signature from the provider's JWKS, issuer, audience, expiry against our clock, nonce), plus
//! an optional required `acr` (identity assurance level).
//!
//! The HTTP client follows no redirects and talks only to the configured issuer's endpoints.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
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
    /// When set, the ID token's `acr` must equal it (e.g. an IAL2 value).
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

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider could not be reached or described itself wrongly: {0}")]
    Discovery(String),
    #[error("the identity provider is misconfigured: {0}")]
    Config(String),
    #[error("the identity provider refused the sign-in code: {0}")]
    TokenExchange(String),
    #[error("the identity provider sent no ID token")]
    NoIdToken,
    #[error("the identity provider's ID token is not valid: {0}")]
    InvalidToken(String),
    #[error(
        "the identity provider verified you at assurance level {got}, but {required} is required"
    )]
    AcrNotMet { required: String, got: String },
}

/// A client for one provider; discovery happens once and is cached.
pub struct OidcClient {
    pub config: ProviderConfig,
    http: openidconnect::reqwest::Client,
    metadata: tokio::sync::OnceCell<CoreProviderMetadata>,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("key", &self.config.key)
            .field("issuer", &self.config.issuer)
            .finish()
    }
}

impl OidcClient {
    pub fn new(config: ProviderConfig) -> Self {
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .expect("a reqwest client without custom TLS roots builds");
        Self {
            config,
            http,
            metadata: tokio::sync::OnceCell::new(),
        }
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        self.metadata
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.config.issuer.clone())
                    .map_err(|e| OidcError::Config(format!("issuer URL: {e}")))?;
                CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| OidcError::Discovery(error_chain(&e)))
            })
            .await
            .cloned()
    }

    async fn client(
        &self,
        redirect_uri: &str,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::Config(format!("redirect URI: {e}")))?;
        Ok(CoreClient::from_provider_metadata(
            self.metadata().await?,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// The provider's authorization URL to send the user to, and what to keep until the
    /// callback.
    pub async fn start(&self, redirect_uri: &str) -> Result<(String, PendingLogin), OidcError> {
        let client = self.client(redirect_uri).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .set_pkce_challenge(challenge)
            .url();
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
    /// token's expiry and issue time are checked against.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        pending: &PendingLogin,
        code: &str,
        now: i64,
    ) -> Result<VerifiedIdentity, OidcError> {
        let client = self.client(redirect_uri).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| OidcError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| OidcError::TokenExchange(error_chain(&e)))?;
        let id_token = response.id_token().ok_or(OidcError::NoIdToken)?;
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        let verifier = client.id_token_verifier().set_time_fn(move || at);
        let claims = id_token
            .claims(&verifier, &Nonce::new(pending.nonce.clone()))
            .map_err(|e| OidcError::InvalidToken(error_chain(&e)))?;
        let acr = claims.auth_context_ref().map(|a| a.as_str().to_owned());
        if let Some(required) = &self.config.required_acr
            && acr.as_deref() != Some(required.as_str())
        {
            return Err(OidcError::AcrNotMet {
                required: required.clone(),
                got: acr.unwrap_or_else(|| "none".into()),
            });
        }
        Ok(VerifiedIdentity {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            acr,
            email: claims.email().map(|e| e.as_str().to_owned()),
        })
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
