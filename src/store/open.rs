//! The storage factory: opens the backend the settings name. Entry points (the server, the
//! `ingest` command) call this instead of choosing a backend themselves.

use std::sync::Arc;

use super::clock::{self, DynClock};
use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::{DynStore, StoreError};
use crate::config::{Config, StorageKind};

/// Opens and migrates the configured store, with the system clock.
pub async fn open(config: &Config) -> Result<DynStore, StoreError> {
    open_with_clock(config, clock::system()).await
}

/// Opens and migrates the configured store, taking timestamps from `clock`.
pub async fn open_with_clock(config: &Config, clock: DynClock) -> Result<DynStore, StoreError> {
    let url = || config.resolved_database_url().map_err(StoreError::Backend);
    Ok(match config.storage {
        StorageKind::Memory => Arc::new(SqliteStore::open_memory().await?.with_clock(clock)),
        StorageKind::Sqlite => Arc::new(SqliteStore::open_file(&url()?).await?.with_clock(clock)),
        StorageKind::Postgres => Arc::new(PostgresStore::connect(&url()?).await?.with_clock(clock)),
    })
}
