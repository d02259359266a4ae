//! The webhook endpoint secret: from Secrets Manager in the cloud (`WEBHOOK_SECRET_ARN`),
//! fetched on the first webhook and kept for the life of the execution environment; from
//! `WEBHOOK_SECRET` locally. Never logged.

use aws_config::SdkConfig;
use shop::aws::MissingEnv;
use shop::kernel::InfraError;
use tokio::sync::OnceCell;

pub enum EndpointSecret {
    Local(String),
    Managed {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
        value: OnceCell<String>,
    },
}

impl EndpointSecret {
    pub fn from_env(config: &SdkConfig) -> Result<Self, MissingEnv> {
        if let Ok(secret_id) = std::env::var("WEBHOOK_SECRET_ARN") {
            return Ok(Self::Managed {
                client: shop::aws::secretsmanager(config),
                secret_id,
                value: OnceCell::new(),
            });
        }
        std::env::var("WEBHOOK_SECRET")
            .map(Self::Local)
            .map_err(|_| MissingEnv("WEBHOOK_SECRET_ARN or WEBHOOK_SECRET".into()))
    }

    /// Fetched lazily, so a cold start pays nothing before its first event.
    pub async fn get(&self) -> Result<&str, InfraError> {
        match self {
            Self::Local(secret) => Ok(secret),
            Self::Managed {
                client,
                secret_id,
                value,
            } => value
                .get_or_try_init(|| shop::adapters::secrets::secret_string(client, secret_id))
                .await
                .map(String::as_str),
        }
    }
}
