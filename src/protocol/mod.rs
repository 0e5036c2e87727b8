//! The wire protocol: generated frame types, decoding, encoding and schema validation.
//!
//! Everything under `generated` comes from `spec/` (see `src/codegen`); this module adds the
//! hand-written edges: [`decode`] turns a text frame into an [`Action`], [`encode`] turns an
//! [`Event`] into a text frame, [`validate`] checks frames against the spec, [`error`] is the
//! one [`ClientError`] every failure becomes, and [`events`] builds every event the server
//! sends.
//!
//! Pattern to follow: **no frame is built by hand.** Handlers, turns and the HTTP API call the
//! constructors in [`events`] (`events::pong`, `events::immediate`, `events::error`, …), which
//! fill the top-level and `data` copies of each field from one value, so they cannot disagree;
//! debug builds then validate every encoded frame against its schema.

#[allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_imports,
    unreachable_pub,
    dead_code
)]
mod generated {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/generated/protocol.rs"
    ));
}

pub mod decode;
pub mod encode;
pub mod error;
pub mod events;
pub mod validate;

pub use decode::{decode, Inbound, Rejection};
pub use encode::encode;
pub use error::ClientError;
pub use generated::*;

/// Current time as Unix epoch milliseconds, the unit of every event `timestamp`.
pub fn now_ms() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0)
}
