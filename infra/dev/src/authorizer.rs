//! The HTTP API's JWT authorizer, as API Gateway runs it before the function: the bearer
//! token's signature against the issuer's JWKS (found through its OpenID discovery document),
//! `alg` among the RSA algorithms, `iss`, `aud`, `exp` and `nbf`, and the scopes the route
//! declares. The claims then go into `requestContext.authorizer.jwt`.

use std::collections::{BTreeMap, HashMap};

use axum::http::HeaderMap;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

/// API Gateway accepts only RSA-signed tokens.
const ACCEPTED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];

/// Why a request was refused before reaching its function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// 401: no usable bearer token, or one that does not verify.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: a valid token without any of the route's scopes.
    #[error("{0}")]
    Forbidden(String),
}

/// What a verified token gives the function.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorized {
    /// Every claim, as text (API Gateway's HTTP API stringifies them).
    pub claims: BTreeMap<String, String>,
    pub scopes: Vec<String>,
}

pub struct JwtAuthorizer {
    issuer: String,
    audience: Vec<String>,
    http: reqwest::Client,
    /// The issuer's keys by `kid`, parsed once.
    keys: RwLock<HashMap<String, DecodingKey>>,
}

impl JwtAuthorizer {
    pub fn new(issuer: &str, audience: Vec<String>) -> Self {
        JwtAuthorizer {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience,
            http: reqwest::Client::new(),
            keys: RwLock::new(HashMap::new()),
        }
    }

    /// Checks the request's `Authorization` header for a route requiring `scopes` (none: any
    /// valid token).
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        scopes: &[String],
    ) -> Result<Authorized, Denied> {
        let token = bearer(headers)?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Denied::Unauthorized(format!("the token is malformed: {e}")))?;
        if !ACCEPTED.contains(&header.alg) {
            return Err(Denied::Unauthorized(format!(
                "the token is signed with {:?}; only RSA signatures are accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| Denied::Unauthorized("the token names no key (kid)".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audience);
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| Denied::Unauthorized(format!("the token is not valid: {e}")))?;
        let granted = granted_scopes(&data.claims);
        if !scopes.is_empty() && !scopes.iter().any(|s| granted.contains(s)) {
            return Err(Denied::Forbidden(format!(
                "the token has none of the scopes this route needs: {}",
                scopes.join(", ")
            )));
        }
        let claims = data
            .claims
            .into_iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (name, text)
            })
            .collect();
        Ok(Authorized {
            claims,
            scopes: granted,
        })
    }

    /// The issuer's key `kid`, from its JWKS; fetched on first use and again when a token
    /// names a key not seen yet (key rotation), as API Gateway does.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Denied> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        let fresh: HashMap<String, DecodingKey> = self
            .fetch_keys()
            .await?
            .keys
            .iter()
            .filter_map(|jwk| {
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((jwk.common.key_id.clone()?, key))
            })
            .collect();
        let key = fresh.get(kid).cloned();
        *self.keys.write().await = fresh;
        key.ok_or_else(|| Denied::Unauthorized(format!("the issuer has no key {kid}")))
    }

    async fn fetch_keys(&self) -> Result<JwkSet, Denied> {
        let discovery: Value = self
            .fetch(&format!("{}/.well-known/openid-configuration", self.issuer))
            .await?;
        let jwks_uri = discovery["jwks_uri"]
            .as_str()
            .ok_or_else(|| Denied::Unauthorized("the issuer publishes no jwks_uri".into()))?;
        self.fetch(jwks_uri).await
    }

    async fn fetch<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, Denied> {
        let unreachable = |e: reqwest::Error| {
            Denied::Unauthorized(format!("the issuer {} cannot be reached: {e}", self.issuer))
        };
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unreachable)?
            .json()
            .await
            .map_err(unreachable)
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Result<&str, Denied> {
    let value = headers
        .get("authorization")
        .ok_or_else(|| Denied::Unauthorized("the request has no Authorization header".into()))?
        .to_str()
        .map_err(|_| Denied::Unauthorized("the Authorization header is not text".into()))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(Denied::Unauthorized(
            "the Authorization header must be `Bearer <token>`".into(),
        ));
    }
    Ok(token)
}

/// The scopes a token grants: `scope` (space-separated, as Cognito writes it) or `scp`.
fn granted_scopes(claims: &Map<String, Value>) -> Vec<String> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(scope)), _) => scope.split_whitespace().map(str::to_owned).collect(),
        (_, Some(Value::Array(list))) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}
