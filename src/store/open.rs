//! The storage factory: opens the backend the settings name. Entry points (the server, the
//! `ingest` command) call this instead of choosing a backend themselves.

use std::sync::Arc;

use super::clock::{self, DynClock};
use super::sqlite::SqliteStore;
use super::{DynStore, StoreError};
use crate::config::{Config, StorageKind};

/// Opens and migrates the configured store, with the system clock.
pub async fn open(config: &Config) -> Result<DynStore, StoreError> {
    open_with_clock(config, clock::system()).await
}

/// Opens and migrates the configured store, taking timestamps from `clock`.
pub async fn open_with_clock(config: &Config, clock: DynClock) -> Result<DynStore, StoreError> {
    let store = match config.storage {
        StorageKind::Memory => SqliteStore::open_memory().await?,
        StorageKind::Sqlite => SqliteStore::open_file(&config.database_url).await?,
    };
    Ok(Arc::new(store.with_clock(clock)))
}
