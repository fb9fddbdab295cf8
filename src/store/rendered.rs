//! A small vault's JSON answer, rendered once per revision and served again as it is: the
//! base64 of its ciphertext and the serializer's escaping scan were a sixth of a cached read's
//! CPU. An entry is used only for the very vault it was rendered from (every column compared,
//! so a rename or a new revision renders afresh) at the same content URL, and a revision's
//! ciphertext never changes: nothing here needs invalidating.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use moka::future::Cache;

use super::counts::Counts;
use crate::domain::Vault;

/// Rendered answers by etag, within a byte budget (none at 0).
pub struct RenderedVaults {
    cache: Option<Cache<String, Arc<Rendered>>>,
    /// Answers served from here, and answers rendered afresh.
    pub counts: Counts,
}

struct Rendered {
    vault: Vault,
    content_url: String,
    json: Bytes,
}

impl RenderedVaults {
    /// Keeps at most `bytes` of rendered JSON; nothing when `bytes` is 0.
    pub fn new(bytes: u64) -> Self {
        let cache = (bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(bytes)
                .weigher(|_, r: &Arc<Rendered>| u32::try_from(r.json.len()).unwrap_or(u32::MAX))
                .time_to_idle(Duration::from_secs(600))
                .build()
        });
        Self { cache, counts: Counts::default() }
    }

    /// The answer rendered earlier from exactly `vault`, served at `content_url`.
    pub async fn get(&self, vault: &Vault, content_url: &str) -> Option<Bytes> {
        let cache = self.cache.as_ref()?;
        let hit =
            cache.get(&vault.etag).await.filter(|hit| hit.vault == *vault && hit.content_url == content_url);
        self.counts.count(hit.is_some());
        hit.map(|hit| hit.json.clone())
    }

    /// Keeps `json`, rendered from `vault` at `content_url`.
    pub async fn keep(&self, vault: &Vault, content_url: String, json: Bytes) {
        if let Some(cache) = &self.cache {
            let rendered = Rendered { vault: vault.clone(), content_url, json };
            cache.insert(vault.etag.clone(), Arc::new(rendered)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    fn vault(etag: &str, vault_id: &str) -> Vault {
        let now = Timestamp::now();
        Vault {
            user_id: uuid::Uuid::nil(),
            vault_id: vault_id.into(),
            etag: etag.into(),
            revision: 1,
            version: 1,
            size: 3,
            sha256: vec![0; 32],
            iv: vec![1; 12],
            salt: vec![2; 16],
            created_at: now,
            updated_at: now,
            uid: uuid::Uuid::nil(),
            receipt: None,
            written_as: None,
            rename_receipt: None,
        }
    }

    #[tokio::test]
    async fn an_answer_serves_only_the_vault_and_url_it_was_rendered_for() {
        let rendered = RenderedVaults::new(1 << 20);
        let v = vault("e1", "notes");
        rendered.keep(&v, "/a".into(), Bytes::from_static(b"{}")).await;
        assert_eq!(rendered.get(&v, "/a").await.as_deref(), Some(&b"{}"[..]));
        assert_eq!(rendered.get(&v, "/b").await, None, "another content URL");
        assert_eq!(rendered.get(&vault("e1", "renamed"), "/a").await, None, "same etag, renamed");
        assert_eq!(rendered.get(&vault("e2", "notes"), "/a").await, None, "another revision");
    }

    #[tokio::test]
    async fn a_zero_budget_keeps_nothing() {
        let rendered = RenderedVaults::new(0);
        let v = vault("e1", "notes");
        rendered.keep(&v, "/a".into(), Bytes::from_static(b"{}")).await;
        assert_eq!(rendered.get(&v, "/a").await, None);
    }
}
