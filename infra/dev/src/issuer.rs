//! A local OpenID Connect issuer, standing in for Cognito or any OIDC provider: an RSA key
//! generated at start, its discovery document and JWKS over HTTP, and a token endpoint that
//! signs a bearer token for any customer (local only: there is no password).
//!
//! Tokens are RS256, as API Gateway's JWT authorizers accept only RSA signatures. Signing and
//! the JWKS are jsonwebtoken's; the key pair is aws-lc-rs's (already the SDK's crypto).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The audience the local issuer's tokens name, and the local cloud's authorizer expects.
pub const LOCAL_AUDIENCE: &str = "shop-local";

/// How long a token lives unless asked otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

pub struct Issuer {
    url: String,
    audience: String,
    key: EncodingKey,
    kid: String,
    jwks: JwkSet,
}

/// The claims of a token: what a customer's access token from Cognito carries that the shop
/// reads (`sub`), and what the authorizer checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Space-separated OAuth scopes.
    pub scope: String,
}

impl Issuer {
    /// A fresh key pair for the issuer at `url`.
    pub fn generate(url: &str, audience: &str) -> Result<Issuer> {
        let pair = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow!("RSA key generation failed"))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| anyhow!("cannot encode the RSA key"))?;
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).context("the generated key")?;
        let kid = format!("local-{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).context("the JWK")?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(Issuer {
            url: url.trim_end_matches('/').to_owned(),
            audience: audience.to_owned(),
            key,
            kid,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The claims of a token for `customer`, valid from now for `ttl`.
    pub fn claims(&self, customer: &str, ttl: Duration) -> Claims {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        Claims {
            iss: self.url.clone(),
            aud: self.audience.clone(),
            sub: customer.to_owned(),
            iat: now,
            nbf: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            scope: "orders".to_owned(),
        }
    }

    /// Signs `claims` (any JSON object) with the issuer's key: tests use it to make tokens
    /// that are well signed but wrong in every other way.
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).context("signing a token")
    }

    /// A bearer token for `customer`.
    pub fn token(&self, customer: &str, ttl: Duration) -> Result<String> {
        self.sign(&self.claims(customer, ttl))
    }

    /// The OpenID discovery document API Gateway reads to find the keys.
    pub fn discovery(&self) -> Value {
        json!({
            "issuer": self.url,
            "jwks_uri": format!("{}/.well-known/jwks.json", self.url),
            "token_endpoint": format!("{}/token", self.url),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }
}

/// A token from the issuer at `issuer_url` over HTTP, as `cargo dev token` gets it.
pub async fn fetch_token(issuer_url: &str, customer: &str, ttl: Duration) -> Result<String> {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/token", issuer_url.trim_end_matches('/')))
        .json(&json!({"customer": customer, "ttl_seconds": ttl.as_secs()}))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("the local issuer at {issuer_url} did not answer"))?
        .json()
        .await?;
    answer["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("the issuer answered without a token")
}

/// `POST /token`: `{"customer": "c-1", "ttl_seconds": 3600}`.
#[derive(Deserialize)]
struct TokenRequest {
    customer: String,
    ttl_seconds: Option<u64>,
}

/// Serves the issuer at its URL's address until `shutdown`.
pub fn serve(
    listener: TcpListener,
    issuer: Arc<Issuer>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) {
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(issuer): State<Arc<Issuer>>| async move { Json(issuer.discovery()) }),
        )
        .route(
            "/.well-known/jwks.json",
            get(|State(issuer): State<Arc<Issuer>>| async move { Json(issuer.jwks().clone()) }),
        )
        .route("/token", post(token))
        .with_state(issuer);
    crate::gateway::serve(listener, app, shutdown, tasks);
}

async fn token(State(issuer): State<Arc<Issuer>>, Json(request): Json<TokenRequest>) -> Response {
    let ttl = request.ttl_seconds.map_or(DEFAULT_TTL, Duration::from_secs);
    match issuer.token(&request.customer, ttl) {
        Ok(token) => Json(json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl.as_secs(),
        }))
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_against_the_published_keys_only() {
        let issuer = Issuer::generate("http://127.0.0.1:1", LOCAL_AUDIENCE).unwrap();
        let token = issuer.token("c-1", DEFAULT_TTL).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        let jwk = issuer.jwks().find(header.kid.as_deref().unwrap()).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_issuer(&["http://127.0.0.1:1"]);
        validation.set_audience(&[LOCAL_AUDIENCE]);
        let claims = jsonwebtoken::decode::<Claims>(&token, &key, &validation).unwrap();
        assert_eq!(claims.claims.sub, "c-1");

        let other = Issuer::generate("http://127.0.0.1:1", LOCAL_AUDIENCE).unwrap();
        let forged = other.token("c-1", DEFAULT_TTL).unwrap();
        assert!(jsonwebtoken::decode::<Claims>(&forged, &key, &validation).is_err());
    }
}
