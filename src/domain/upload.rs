//! Resumable uploads.

use uuid::Uuid;

use super::{Precondition, Timestamp};

/// One resumable upload (tus 1.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its id, the last segment of its URL.
    pub id: Uuid,
    /// Owner; nobody else sees it.
    pub user_id: Uuid,
    /// The vault it becomes.
    pub vault_id: String,
    /// The etag of the revision it becomes, and so the name of its object.
    pub etag: String,
    /// Opaque IV of the revision.
    pub iv: Vec<u8>,
    /// Opaque salt of the revision.
    pub salt: Vec<u8>,
    /// Client format version.
    pub version: i64,
    /// What the vault must look like when the upload completes.
    pub precondition: Precondition,
    /// Total bytes (`Upload-Length`).
    pub upload_length: i64,
    /// Bytes durably stored so far (`Upload-Offset`).
    pub upload_offset: i64,
    /// The S3 multipart upload id; `None` on local files.
    pub multipart_id: Option<String>,
    /// ETags of the stored parts, space-separated, in order; `-` once the upload committed
    /// (it is then kept, finished, until it expires, so that a client can ask again).
    pub part_etags: String,
    /// SHA-256 of each stored part, concatenated.
    pub part_digests: Vec<u8>,
    /// The PATCH holding the lease.
    pub lease_owner: Option<Uuid>,
    /// Until when it holds it.
    pub lease_until: Option<Timestamp>,
    /// After this, the upload is gone and its storage released.
    pub expires_at: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
}

/// `part_etags` of a direct upload in progress (its parts go to the object store without the
/// gateway, which lists none of them).
pub const DIRECT_PENDING: &str = "direct";
/// `part_etags` of a direct upload that committed.
pub const DIRECT_COMMITTED: &str = "direct-";

impl Upload {
    /// Whether it committed its vault revision (it is kept until it expires, finished).
    pub fn committed(&self) -> bool {
        self.part_etags == "-" || self.part_etags == DIRECT_COMMITTED
    }

    /// Whether it is a direct upload (parts sent to the object store by the client), rather
    /// than a tus upload whose bytes come through the gateway.
    pub fn is_direct(&self) -> bool {
        self.part_etags == DIRECT_PENDING || self.part_etags == DIRECT_COMMITTED
    }
}
