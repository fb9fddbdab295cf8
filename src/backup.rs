//! Snapshots of the metadata database: taken on demand (`blindvault backup`) and before every
//! migration that changes a database holding data, kept in the object store under `backups/`
//! (or in `BLINDVAULT_BACKUP_DIR`), the newest `BLINDVAULT_BACKUP_KEEP`, and restored into an
//! empty database (`blindvault restore-backup`). SQLite is copied with `VACUUM INTO`; Postgres
//! is read in one `REPEATABLE READ` transaction and loaded back by the server itself (see
//! `store::pg_snapshot`: no `pg_dump`, whose version must match the server's).
//! The objects themselves stay where they are: back the bucket up by its own means (see
//! docs/OPERATIONS.md "Backups").

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use crate::config::{DatabaseLocation, Settings};
use crate::store::{BlobStore, MetadataStore};

/// The object-store prefix backups go under.
pub const PREFIX: &str = "backups/";

/// The file extension of a Postgres backup.
pub const POSTGRES_EXT: &str = "pgsnap";

/// Where backups are kept.
enum Place {
    Objects(BlobStore),
    Dir(PathBuf),
}

fn place(settings: &Settings) -> anyhow::Result<Place> {
    Ok(match &settings.backup_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            Place::Dir(dir.clone())
        }
        None => Place::Objects(BlobStore::open(&settings.storage()?)?),
    })
}

/// Backups kept, oldest first (names sort by the time they begin with).
pub async fn list(settings: &Settings) -> anyhow::Result<Vec<String>> {
    list_in(&place(settings)?).await
}

async fn list_in(place: &Place) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = match place {
        Place::Objects(blobs) => blobs
            .list(PREFIX)
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix(PREFIX).map(str::to_owned))
            .collect(),
        Place::Dir(dir) => std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".sqlite") || n.ends_with(&format!(".{POSTGRES_EXT}")))
            .collect(),
    };
    names.sort();
    Ok(names)
}

/// Takes a snapshot now, labelled `why`, keeps it, and drops the oldest beyond the retention
/// count; its name.
pub async fn take(settings: &Settings, store: &dyn MetadataStore, why: &str) -> anyhow::Result<String> {
    let version = store.schema_version().await?.unwrap_or(0);
    let when = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"))?;
    let scratch = tempfile::Builder::new().prefix("blindvault-backup").tempdir_in(std::env::temp_dir())?;
    let file = scratch.path().join("snapshot");
    store.snapshot_into(&file).await.context("cannot snapshot the database")?;
    let ext = match settings.database()? {
        DatabaseLocation::Sqlite(_) => "sqlite",
        DatabaseLocation::Postgres(_) => POSTGRES_EXT,
    };
    let name = format!("{when}-v{version}-{why}.{ext}");
    let bytes = std::fs::metadata(&file)?.len();
    let place = place(settings)?;
    match &place {
        Place::Dir(dir) => {
            std::fs::copy(&file, dir.join(&name))
                .with_context(|| format!("cannot write into {}", dir.display()))?;
        }
        Place::Objects(blobs) => {
            let body = tokio_file_stream(&file).await?;
            blobs.put_stream(&format!("{PREFIX}{name}"), body, u64::MAX).await?;
        }
    }
    tracing::info!(backup = %name, bytes, "backup written");
    prune(&place, settings.backup_keep as usize).await?;
    Ok(name)
}

/// Removes the oldest backups beyond the newest `keep`.
async fn prune(place: &Place, keep: usize) -> anyhow::Result<()> {
    let names = list_in(place).await?;
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        match place {
            Place::Dir(dir) => std::fs::remove_file(dir.join(name))?,
            Place::Objects(blobs) => blobs.delete(&format!("{PREFIX}{name}")).await?,
        }
        tracing::info!(backup = %name, "old backup removed (BLINDVAULT_BACKUP_KEEP)");
    }
    Ok(())
}

async fn tokio_file_stream(
    path: &Path,
) -> anyhow::Result<impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + use<>> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path).await?;
    Ok(futures::stream::try_unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), file)))
    }))
}

/// Restores backup `name` (a kept one, or a file path) into the configured database, which must
/// be empty (SQLite: no schema; Postgres: no rows): nothing is overwritten.
pub async fn restore(settings: &Settings, store: &dyn MetadataStore, name: &str) -> anyhow::Result<()> {
    let sqlite = matches!(settings.database()?, DatabaseLocation::Sqlite(_));
    if sqlite && store.schema_version().await?.is_some() {
        bail!("the configured database is not empty: restore into a new, empty one");
    }
    let scratch = tempfile::tempdir()?;
    let file = scratch.path().join("snapshot");
    if Path::new(name).is_file() {
        std::fs::copy(name, &file)?;
    } else {
        match place(settings)? {
            Place::Dir(dir) => {
                std::fs::copy(dir.join(name), &file)
                    .with_context(|| format!("no backup {name} in {}", dir.display()))?;
            }
            Place::Objects(blobs) => {
                let read = blobs
                    .get(&format!("{PREFIX}{name}"), None)
                    .await
                    .with_context(|| format!("no backup {name}"))?;
                let mut out = tokio::fs::File::create(&file).await?;
                let mut body = read.body.map_err(std::io::Error::other);
                while let Some(chunk) = body.next().await {
                    tokio::io::AsyncWriteExt::write_all(&mut out, &chunk?).await?;
                }
                tokio::io::AsyncWriteExt::flush(&mut out).await?;
            }
        }
    }
    match settings.database()? {
        DatabaseLocation::Sqlite(url) => {
            if !name.ends_with(".sqlite") && !Path::new(name).is_file() {
                bail!("{name} is not an SQLite backup");
            }
            let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(&url);
            let path = path.split('?').next().unwrap_or(path);
            // Beside the target, then renamed over it: the empty database's open connections keep
            // the file they opened, and the next process opens the restored one.
            let staged = format!("{path}.restoring");
            std::fs::copy(&file, &staged).with_context(|| format!("cannot write {staged}"))?;
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
            std::fs::rename(&staged, path).with_context(|| format!("cannot write {path}"))?;
        }
        DatabaseLocation::Postgres(_) => {
            store.load_snapshot(&file).await.context("cannot restore the backup")?;
        }
    }
    tracing::info!(backup = %name, "backup restored");
    Ok(())
}

/// The migration that keeps small bodies in the database: stepping below it needs them in the
/// object store first.
pub const SMALL_OBJECTS_VERSION: i64 = 20261206000001;

/// Moves every body kept in the database to the object store under its own key (for a step
/// down below [`SMALL_OBJECTS_VERSION`], whose down script refuses while any is left). Each is
/// written before it is dropped, so a failure part-way loses nothing. Returns how many moved.
pub async fn move_small_objects_out(
    settings: &Settings,
    vaults: &dyn crate::store::VaultStore,
) -> anyhow::Result<usize> {
    let blobs = BlobStore::open(&settings.storage()?)?;
    let mut moved = 0;
    loop {
        let batch = vaults.small_objects_after("", 100).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        for (key, body) in batch {
            let len = body.len() as u64;
            blobs
                .put_stream(&key, futures::stream::once(async { Ok::<_, std::io::Error>(body) }), len)
                .await?;
            vaults.drop_small_object(&key).await?;
            moved += 1;
        }
    }
}
