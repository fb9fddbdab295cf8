//! Where ciphertext objects live, and how the S3 client reaches them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};

/// Where a [`BlobStore`](super::BlobStore) keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobLocation {
    /// A local directory, created (mode 0700) if missing.
    Local(PathBuf),
    /// An S3 bucket.
    S3(S3Target),
}

/// An S3 bucket, optionally under a key prefix, and the client settings to reach it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Target {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket.
    pub prefix: Option<String>,
    /// Endpoint of an S3-compatible server (AWS when `None`).
    pub endpoint: Option<String>,
    /// Region requests are signed for.
    pub region: String,
    /// Access key id (else the environment's credentials).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Whether a plain-HTTP endpoint is allowed.
    pub allow_http: bool,
    /// Whether bodies are sent as `UNSIGNED-PAYLOAD` rather than hashed into the signature.
    pub unsigned_payload: bool,
    /// The endpoint clients reach, for presigned URLs (`endpoint` when `None`).
    pub public_endpoint: Option<String>,
}

impl fmt::Debug for S3Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Target")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("unsigned_payload", &self.unsigned_payload)
            .field("public_endpoint", &self.public_endpoint)
            .finish()
    }
}

impl S3Target {
    /// An S3 client builder for this bucket: bounded connect and request times, three retries.
    pub(super) fn builder(&self) -> AmazonS3Builder {
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(120))
            .with_allow_http(self.allow_http);
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_region(&self.region)
            .with_unsigned_payload(self.unsigned_payload)
            .with_retry(retry)
            .with_client_options(client);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &self.session_token {
            builder = builder.with_token(token);
        }
        builder
    }

    /// A client that only signs URLs, for the endpoint clients reach.
    pub(super) fn signer_builder(&self) -> AmazonS3Builder {
        match &self.public_endpoint {
            Some(endpoint) => self.builder().with_endpoint(endpoint),
            None => self.builder(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_credentials() {
        let target = S3Target {
            bucket: "vaults".into(),
            access_key_id: Some("AKIDEXAMPLE".into()),
            secret_access_key: Some("wJalrXUtnFEMI".into()),
            session_token: Some("FwoGZXIvYXdzE".into()),
            ..S3Target::default()
        };
        let shown = format!("{target:?}");
        assert!(shown.contains("vaults") && shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdzE"), "{shown}");
    }
}
