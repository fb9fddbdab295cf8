//! Schema migrations both ways: applying what this binary ships while tolerating what a newer
//! binary applied (a rollback runs an older binary against a newer, additively changed
//! schema), and stepping to an exact version with the down scripts.

use std::collections::HashSet;

use sqlx::Pool;
use sqlx::migrate::{Migrate, Migrator};

use super::Engine;
use crate::store::StoreError;

/// `migrator`, accepting applied migrations it does not ship.
pub(super) fn tolerant(migrator: &Migrator) -> Migrator {
    Migrator {
        migrations: migrator.migrations.clone(),
        ignore_missing: true,
        locking: migrator.locking,
        no_tx: migrator.no_tx,
        table_name: migrator.table_name.clone(),
        create_schemas: migrator.create_schemas.clone(),
    }
}

/// The versions `migrator` ships (their up halves).
pub(super) fn versions(migrator: &Migrator) -> impl Iterator<Item = i64> + '_ {
    migrator.iter().filter(|m| !m.migration_type.is_down_migration()).map(|m| m.version)
}

/// The versions the database has applied.
pub(super) async fn applied<DB: Engine>(pool: &Pool<DB>) -> Result<HashSet<i64>, StoreError> {
    let migrator = DB::migrator();
    let mut conn = pool.acquire().await?;
    conn.ensure_migrations_table(&migrator.table_name).await?;
    Ok(conn.list_applied_migrations(&migrator.table_name).await?.into_iter().map(|m| m.version).collect())
}

/// Up to `version`, or down to it.
pub(crate) async fn migrate_to<DB: Engine>(pool: &Pool<DB>, version: i64) -> Result<(), StoreError> {
    let migrator = DB::migrator();
    if !versions(migrator).any(|v| v == version) {
        return Err(StoreError::Conflict("migration version"));
    }
    let done = applied::<DB>(pool).await?;
    if done.iter().any(|v| *v > version && !versions(migrator).any(|known| known == *v)) {
        return Err(StoreError::Conflict("newer migration"));
    }
    if done.iter().any(|v| *v > version) {
        migrator.undo(pool, version).await?;
    } else {
        migrator.run_to(version, pool).await?;
    }
    Ok(())
}
