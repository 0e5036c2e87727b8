//! Where the store's timestamps come from. Production uses the system clock; tests inject a
//! clock that advances on every reading, so no test sleeps to get distinct timestamps.

use std::sync::Arc;

use chrono::{DateTime, Utc};

/// A source of "now" for timestamps the store writes (`createdAt`, `updatedAt`).
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A shared clock handle.
pub type DynClock = Arc<dyn Clock>;

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The system clock as a shared handle (the default of every backend).
pub fn system() -> DynClock {
    Arc::new(SystemClock)
}
