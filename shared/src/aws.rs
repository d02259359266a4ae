//! The one AWS SDK configuration every client is built from, once per execution environment.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::PathBuf;
use std::time::Duration;

/// Reads region, credentials and (locally) `AWS_ENDPOINT_URL` from the environment.
///
/// Retries are the SDK's own: standard mode (exponential backoff with jitter, throttling and
/// transient errors only), three attempts, so a throttled call is retried inside the
/// invocation before the message is handed back to SQS. Timeouts keep a stuck connection
/// from eating the function's whole budget.
pub async fn sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(context) = tls_context() {
        // The SDK's default HTTPS client, built as the SDK builds it, with this trust store.
        loader = loader.http_client(
            aws_smithy_http_client::Builder::new().build_with_connector_fn(
                move |settings, components| {
                    let mut builder = ConnectorBuilder::default()
                        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                        .tls_context(context.clone());
                    builder.set_connector_settings(settings.cloned());
                    if let Some(components) = components {
                        builder.set_sleep_impl(components.sleep_impl());
                    }
                    builder.set_proxy_config(Some(ProxyConfig::from_env()));
                    builder.build()
                },
            ),
        );
    }
    loader
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

/// A TLS context trusting the system's CA bundle file (see [`system_ca_bundle`]); `None`
/// keeps the SDK's default.
fn tls_context() -> Option<TlsContext> {
    TlsContext::builder()
        .with_trust_store(system_ca_bundle()?)
        .build()
        .ok()
}

/// The system's CA bundle, as the trust store of the SDK's HTTPS client (rustls with aws-lc,
/// as the SDK's default client), or `None` to keep the SDK's default.
///
/// The default loads the platform's certificates from the bundle file *and* every file of
/// the certificate directory: on Debian `/etc/ssl/certs` holds ~300 entries, the bundle's
/// certificates again. The bundle alone is the same set of roots and took about 1.3 ms off a
/// 6 ms cold start (see docs/benchmarks.md). Kept only if rustls can use every certificate in
/// it (the SDK's client would panic on one it cannot); an explicit `SSL_CERT_DIR` keeps the
/// default, which honours it.
fn system_ca_bundle() -> Option<TrustStore> {
    if std::env::var_os("SSL_CERT_DIR").is_some() {
        return None;
    }
    let path = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(CA_BUNDLES.iter().map(PathBuf::from))
        .find(|p| p.is_file())?;
    let pem = std::fs::read(path).ok()?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let usable = !certs.is_empty()
        && certs
            .iter()
            .all(|cert| webpki::anchor_from_trusted_cert(cert).is_ok());
    usable.then(|| TrustStore::empty().with_pem_certificate(pem))
}

/// Where distributions keep their CA bundle: Amazon Linux 2023 (Lambda's `provided.al2023`)
/// and Fedora, Debian and Ubuntu, Alpine.
const CA_BUNDLES: [&str; 3] = [
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/cert.pem",
];

/// A required environment variable, with an error that names it.
pub fn env(name: &str) -> Result<String, MissingEnv> {
    std::env::var(name).map_err(|_| MissingEnv(name.to_owned()))
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set (see template.yaml, or `cargo dev env` locally)")]
pub struct MissingEnv(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_system_ca_bundle_becomes_the_trust_store() {
        let known = CA_BUNDLES.iter().any(|p| std::path::Path::new(p).is_file());
        if known && std::env::var_os("SSL_CERT_DIR").is_none() {
            assert!(tls_context().is_some(), "the CA bundle was not usable");
        }
    }
}
