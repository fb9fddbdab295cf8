//! Reading rows: typed column getters for any engine's row, and the records made of them.
//! Columns are read by name, so a statement may select them in any order (or `*`).

use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::domain::{ChangeKind, LoggedChange, Precondition, Timestamp, TrashEntry, Upload, Vault};
use crate::store::{AccountShape, FailureWindow, Session, Usage, User};

/// The column types the store reads, on any engine's row type.
pub trait Columns: Row {
    /// A UUID column.
    fn uuid(&self, column: &str) -> Result<Uuid, sqlx::Error>;
    /// A nullable UUID column.
    fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, sqlx::Error>;
    /// A `BIGINT` (or SQLite INTEGER) column.
    fn int(&self, column: &str) -> Result<i64, sqlx::Error>;
    /// A text column.
    fn text(&self, column: &str) -> Result<String, sqlx::Error>;
    /// A nullable text column.
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error>;
    /// A `BYTEA` (or SQLite BLOB) column.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error>;
    /// A nullable `BYTEA` (or SQLite BLOB) column.
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error>;
    /// A nullable `BIGINT` column.
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error>;
    /// A timestamp column.
    fn time(&self, column: &str) -> Result<Timestamp, sqlx::Error>;
    /// A nullable timestamp column.
    fn opt_time(&self, column: &str) -> Result<Option<Timestamp>, sqlx::Error>;
}

impl<R: Row> Columns for R
where
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> Uuid: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Timestamp: Decode<'r, R::Database> + Type<R::Database>,
{
    fn uuid(&self, column: &str) -> Result<Uuid, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_uuid(&self, column: &str) -> Result<Option<Uuid>, sqlx::Error> {
        self.try_get(column)
    }
    fn int(&self, column: &str) -> Result<i64, sqlx::Error> {
        self.try_get(column)
    }
    fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        self.try_get(column)
    }
    fn bytes(&self, column: &str) -> Result<Vec<u8>, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_bytes(&self, column: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        self.try_get(column)
    }
    fn time(&self, column: &str) -> Result<Timestamp, sqlx::Error> {
        self.try_get(column)
    }
    fn opt_time(&self, column: &str) -> Result<Option<Timestamp>, sqlx::Error> {
        self.try_get(column)
    }
}

/// A row of `users`.
pub(crate) fn user<R: Columns>(row: R) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.uuid("id")?,
        username: row.text("username")?,
        auth_phc: row.text("auth_phc")?,
        kdf: row.text("kdf")?,
        kdf_salt: row.bytes("kdf_salt")?,
        kdf_iterations: row.int("kdf_iterations")?,
        security_stamp: row.int("security_stamp")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        disabled_at: row.opt_time("disabled_at")?,
        quota_bytes: row.opt_int("quota_bytes")?,
        quota_vaults: row.opt_int("quota_vaults")?,
    })
}

/// A row of `sessions`.
pub(crate) fn session<R: Columns>(row: R) -> Result<Session, sqlx::Error> {
    Ok(Session {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        scope: row.text("scope")?,
        created_at: row.time("created_at")?,
        last_used_at: row.time("last_used_at")?,
        expires_at: row.time("expires_at")?,
        revoked_at: row.opt_time("revoked_at")?,
        device_name: row.text("device_name")?,
        address: row.text("address")?,
    })
}

/// A row of `vaults`.
pub(crate) fn vault<R: Columns>(row: R) -> Result<Vault, sqlx::Error> {
    vault_with_uid(&row, "uid")
}

/// A vault's columns, its uid in column `uid` (`id` in `trash`).
fn vault_with_uid<R: Columns>(row: &R, uid: &str) -> Result<Vault, sqlx::Error> {
    Ok(Vault {
        user_id: row.uuid("user_id")?,
        vault_id: row.text("vault_id")?,
        etag: row.text("etag")?,
        revision: row.int("revision")?,
        version: row.int("version")?,
        size: row.int("size")?,
        sha256: row.bytes("sha256")?,
        iv: row.bytes("iv")?,
        salt: row.bytes("salt")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        uid: row.uuid(uid)?,
        receipt: row.opt_bytes("receipt")?,
        written_as: row.opt_text("written_as")?,
        rename_receipt: row.opt_bytes("rename_receipt")?,
    })
}

/// A row of `vault_revisions`: an earlier revision of `current`'s vault, shown as that vault
/// at that revision (`updated_at` is when the revision was committed).
pub(crate) fn earlier_revision<R: Columns>(row: R, current: &Vault) -> Result<Vault, sqlx::Error> {
    Ok(Vault {
        user_id: current.user_id,
        vault_id: current.vault_id.clone(),
        etag: row.text("etag")?,
        revision: row.int("revision")?,
        version: row.int("version")?,
        size: row.int("size")?,
        sha256: row.bytes("sha256")?,
        iv: row.bytes("iv")?,
        salt: row.bytes("salt")?,
        created_at: current.created_at,
        updated_at: row.time("created_at")?,
        uid: current.uid,
        receipt: row.opt_bytes("receipt")?,
        written_as: row.opt_text("written_as")?,
        rename_receipt: row.opt_bytes("rename_receipt")?,
    })
}

/// A row of `trash`.
pub(crate) fn trash_entry<R: Columns>(row: R) -> Result<TrashEntry, sqlx::Error> {
    Ok(TrashEntry {
        id: row.uuid("id")?,
        history_bytes: row.int("history_bytes")?,
        history_count: row.int("history_count")?,
        deleted_at: row.time("deleted_at")?,
        expires_at: row.time("expires_at")?,
        vault: vault_with_uid(&row, "id")?,
    })
}

/// A row of `changes`.
pub(crate) fn logged_change<R: Columns>(row: R) -> Result<LoggedChange, sqlx::Error> {
    let kind = row.text("kind")?;
    Ok(LoggedChange {
        seq: row.int("seq")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown change kind {kind:?}").into()))?,
        vault_id: row.text("vault_id")?,
        revision: row.opt_int("revision")?,
        etag: row.opt_text("etag")?,
        trash_id: row.opt_uuid("trash_id")?,
        at: row.time("at")?,
    })
}

/// A row of `uploads`.
pub(crate) fn upload<R: Columns>(row: R) -> Result<Upload, sqlx::Error> {
    Ok(Upload {
        id: row.uuid("id")?,
        user_id: row.uuid("user_id")?,
        vault_id: row.text("vault_id")?,
        etag: row.text("etag")?,
        iv: row.bytes("iv")?,
        salt: row.bytes("salt")?,
        version: row.int("version")?,
        precondition: precondition(row.text("precondition")?),
        upload_length: row.int("upload_length")?,
        upload_offset: row.int("upload_offset")?,
        multipart_id: row.opt_text("multipart_id")?,
        part_etags: row.text("part_etags")?,
        part_digests: row.bytes("part_digests")?,
        lease_owner: row.opt_uuid("lease_owner")?,
        lease_until: row.opt_time("lease_until")?,
        expires_at: row.time("expires_at")?,
        created_at: row.time("created_at")?,
    })
}

/// How an upload's precondition is stored: `*` for a create (the quota query counts those as
/// new vaults), an empty string for any existing revision, else the etag (never empty).
pub(crate) fn stored_precondition(p: &Precondition) -> String {
    match p {
        Precondition::Absent | Precondition::AbsentOrSame => "*".to_owned(),
        Precondition::Exists => String::new(),
        Precondition::Etag(etag) => etag.clone(),
    }
}

fn precondition(stored: String) -> Precondition {
    match stored.as_str() {
        "*" => Precondition::Absent,
        "" => Precondition::Exists,
        _ => Precondition::Etag(stored),
    }
}

/// `bytes, vaults, reserved_bytes, reserved_vaults, history_bytes, history_revisions,
/// trash_bytes, trash_vaults`.
pub(crate) fn usage<R: Columns>(row: R) -> Result<Usage, sqlx::Error> {
    Ok(Usage {
        bytes: row.int("bytes")?,
        vaults: row.int("vaults")?,
        reserved_bytes: row.int("reserved_bytes")?,
        reserved_vaults: row.int("reserved_vaults")?,
        history_bytes: row.int("history_bytes")?,
        history_revisions: row.int("history_revisions")?,
        trash_bytes: row.int("trash_bytes")?,
        trash_vaults: row.int("trash_vaults")?,
    })
}

/// `count, oldest`.
pub(crate) fn failure_window<R: Columns>(row: R) -> Result<FailureWindow, sqlx::Error> {
    Ok(FailureWindow { count: row.int("count")?, oldest: row.opt_time("oldest")? })
}

/// `salt_len, iterations, hash_params, accounts`.
pub(crate) fn account_shape<R: Columns>(row: R) -> Result<AccountShape, sqlx::Error> {
    Ok(AccountShape {
        salt_len: row.int("salt_len")?,
        iterations: row.int("iterations")?,
        hash_params: row.text("hash_params")?,
        accounts: row.int("accounts")?,
    })
}
