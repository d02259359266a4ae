//! The one AWS SDK configuration every client is built from, once per execution environment.

use aws_config::Region;
use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::time::Duration;

/// Reads region, credentials and (locally) `AWS_ENDPOINT_URL` from the environment.
///
/// Lambda puts the execution role's credentials and the region in the environment, so where
/// they are there, only the environment is read: the SDK's default chain would also build
/// its fallbacks (profile files, SSO, web identity with its own STS client, container and
/// instance metadata), and the web identity provider's STS client alone built a second HTTPS
/// client that read the system's CA bundle: 19 of the 22 million instructions of
/// product-reads' init (callgrind, docs/benchmarks.md). Without them in the environment
/// (a developer's machine), the default chain.
///
/// Retries are the SDK's own: standard mode (exponential backoff with jitter, throttling and
/// transient errors only), three attempts, so a throttled call is retried inside the
/// invocation before the message is handed back to SQS. Timeouts keep a stuck connection
/// from eating the function's whole budget.
pub async fn sdk_config() -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    if let Some(region) = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region));
    }
    if let Some(context) = tls_context() {
        loader = loader.http_client(SharedHttpClient::new(ConnectorOnFirstRequest(
            https_client(context),
        )));
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

/// Each service's client, built from [`sdk_config`]'s configuration with the interceptor
/// that records its calls as X-Ray subsegments ([`crate::telemetry::xray`]).
macro_rules! traced_client {
    ($feature:literal, $name:ident, $sdk:ident) => {
        #[cfg(feature = $feature)]
        pub fn $name(config: &SdkConfig) -> $sdk::Client {
            $sdk::Client::from_conf(
                $sdk::config::Builder::from(config)
                    .interceptor(crate::telemetry::xray::AwsCallTracing)
                    .build(),
            )
        }
    };
}

traced_client!("dynamodb", dynamodb, aws_sdk_dynamodb);
traced_client!("sns", sns, aws_sdk_sns);
traced_client!("sqs", sqs, aws_sdk_sqs);
traced_client!("secretsmanager", secretsmanager, aws_sdk_secretsmanager);

/// The SDK's default HTTPS client, built as the SDK builds it (its own builder is private to
/// the SDK), with this trust store. Not `Builder::build_https`: that one ignores the
/// `HTTPS_PROXY` / `NO_PROXY` environment the SDK's default honours.
fn https_client(context: TlsContext) -> SharedHttpClient {
    aws_smithy_http_client::Builder::new().build_with_connector_fn(move |settings, components| {
        let mut builder = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context.clone());
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

/// The SDK's HTTPS client, less its check at each service client's construction: that check
/// builds a connector and throws it away (so that the platform's certificates are read at
/// init rather than at the first request, its comment says), and the first request builds
/// one anyway. We read no certificates from disk, so every client a function built cost a
/// wasted connector, about 0.27 million instructions of init each (callgrind). The connector
/// is built once, at the first request, and cached by the SDK's client as before.
#[derive(Debug)]
struct ConnectorOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectorOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// The TLS context of the SDK's HTTPS client: the Amazon Trust Services roots compiled into
/// the binary, or `None` (the SDK's default: the system's certificates, honouring
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`) when `SHOP_TLS_ROOTS=system`.
///
/// Nothing is read from disk: the SDK parses five certificates when it builds its connector,
/// where reading the system's bundle (about 140 roots) was most of the init (see
/// [`sdk_config`]); docs/architecture.md ("Whom the functions trust") says why trusting only these roots is
/// also the safer choice. Our own variable, not `SSL_CERT_*`, because machines set those for
/// every program (this project's own build machine does).
fn tls_context() -> Option<TlsContext> {
    if std::env::var("SHOP_TLS_ROOTS").is_ok_and(|roots| roots == "system") {
        return None;
    }
    TlsContext::builder()
        .with_trust_store(TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES))
        .build()
        .ok()
}

/// Amazon Root CA 1 to 4 and Starfield Services Root CA G2: what every AWS service endpoint's
/// certificate chains to.
const AMAZON_TRUST_SERVICES: &str = include_str!("../certs/amazon-trust-services.pem");

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
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    /// The SDK panics on a trust-store certificate rustls cannot use: every one must parse.
    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots_and_all_usable() {
        let certs = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        for cert in &certs {
            webpki::anchor_from_trusted_cert(cert).expect("a root rustls can use");
        }
        let named = AMAZON_TRUST_SERVICES
            .lines()
            .filter(|l| l.starts_with("# Amazon Root CA ") || l.starts_with("# Starfield Services"))
            .count();
        assert_eq!(named, 5);
    }
}
