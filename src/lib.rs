//! smooth-operator-rs: a schema-first WebSocket server for AI chat agents.
//!
//! # Layout
//!
//! ```text
//! spec/*.schema.json ──(build.rs + codegen)──► generated/protocol.rs ──► protocol::{Action, Event}
//!
//! WS text frame ─► protocol::decode ─► Action ─► handlers::dispatch (exhaustive match)
//!                                                   │ one file per action
//!                                                   ▼
//!                                                store (sessions, messages)
//!                                                   │
//! WS text frame ◄─ protocol::encode ◄─ Event ◄──────┘   (validated against spec/ in debug)
//! ```
//!
//! - [`protocol`]: generated types plus decode, encode, validation and event constructors.
//! - [`server`]: axum router, per-connection reader/writer, graceful shutdown.
//! - [`handlers`]: one module per action.
//! - [`runtime`]: the turn: gateway client, agent loop, running-turn registry, tools.
//! - [`knowledge`]: documents, chunking, ingest, and search (full-text, optionally fused with
//!   embeddings).
//! - [`store`]: the `Store` trait and the SQLite backend.
//! - [`auth`]: principals and session ownership.
//! - [`config`]: every setting as an env var and a flag.

pub mod auth;
pub mod config;
pub mod handlers;
pub mod ingest;
pub mod knowledge;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod store;
