//! The SDK configuration for the emulator.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

use crate::environment::{LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY};
use crate::resources::REGION;

/// Region, endpoint and static credentials: everything a client of the emulator needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorSettings {
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl EmulatorSettings {
    pub fn new(endpoint: &str) -> EmulatorSettings {
        EmulatorSettings {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: REGION.to_owned(),
            access_key_id: LOCAL_ACCESS_KEY_ID.to_owned(),
            secret_access_key: LOCAL_SECRET_ACCESS_KEY.to_owned(),
        }
    }

    /// An SDK config for the emulator. Build it (and the clients) in the runtime that uses
    /// them: SDK clients keep connections tied to the runtime they first ran on.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                &self.access_key_id,
                &self.secret_access_key,
                None,
                None,
                "local-cloud",
            ))
            .load()
            .await
    }
}

/// An SDK error with its chain of causes on one line: the SDK's own `Display` says only
/// "service error" or "dispatch failure".
pub(crate) fn aws_error(error: impl std::error::Error) -> anyhow::Error {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    anyhow::anyhow!(message)
}

/// Fails with a clear message when nothing listens at `endpoint`, instead of the SDK's
/// retries ending in a dispatch failure.
pub async fn check_reachable(endpoint: &str) -> anyhow::Result<()> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|_| anyhow::anyhow!("{endpoint} is not a URL"))?;
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("{endpoint} names no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
        Ok(Ok(_)) => Ok(()),
        _ => anyhow::bail!(
            "no emulator answers at {endpoint}: start one with `cargo dev emulator` \
             (or let `cargo dev up` start its own), or pass --endpoint URL"
        ),
    }
}
