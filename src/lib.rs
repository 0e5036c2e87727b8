//! smooth-operator-rs: a schema-first WebSocket server for AI chat agents.
//!
//! # Layout
//!
//! ```text
//! spec/*.schema.json ──(build.rs + src/codegen)──► generated/protocol.rs ──► protocol::{Action, Event}
//!
//! WS text frame ─► protocol::decode ─► Action ─► handlers::dispatch (exhaustive match)
//!                                                   │ one file per action
//!                                                   ▼
//!                                   runtime (turns, tools, confirmations) ─► llm, knowledge
//!                                                   │
//!                                                   ▼
//!                                     store (sessions, messages, documents)
//!
//! WS text frame ◄─ protocol::encode ◄─ Event ◄── runtime::sink::EventSink (server::outbound)
//! ```
//!
//! Data flows one way. Each module uses only the modules below it (`scripts/check-layers`
//! fails the build on an upward edge or a cycle):
//!
//! ```text
//! server, ingest        axum router, sockets, admin HTTP, web page; the `ingest` command
//!   handlers            one file per action, over a per-connection Context
//!     runtime           turns, tools, confirmations; emits through its EventSink trait
//!       knowledge       ingest, chunking, search with rank fusion
//!         llm, auth, backplane   the OpenAI-compatible client; principals and session
//!                       ownership; leases, events and requests between pods
//!           store       the Store trait, SQLite backend, clock, ACLs, factory
//!             telemetry metric names and the bounded-label functions recording them
//!               protocol, config   generated types, decode/encode, ClientError; settings
//! ```
//!
//! - [`server`]: axum router, per-connection reader/writer, admin API, the chat page, widget and
//!   protocol docs, graceful shutdown.
//! - [`ingest`]: the `ingest` subcommand.
//! - [`handlers`]: one module per action.
//! - [`runtime`]: the turn: agent loop, running-turn registry, tools, confirmations.
//! - [`knowledge`]: documents, chunking, ingest, and search (full-text, optionally fused with
//!   embeddings).
//! - [`llm`]: the gateway client: chat streaming and embeddings over one request builder.
//! - [`auth`]: principals and session ownership.
//! - [`backplane`]: what joins several pods: turn leases, events for sockets on every pod,
//!   requests to the pod running a turn (in-process for one pod, Redis for many).
//! - [`store`]: the `Store` trait, the SQLite backend, access lists and the clock.
//! - [`telemetry`]: Prometheus metric names, descriptions and recording functions (the server
//!   installs the recorder and serves `GET /metrics`).
//! - [`protocol`]: generated types plus decode, encode, validation, [`protocol::ClientError`]
//!   and event constructors.
//! - [`config`]: every setting as an env var and a flag.
//!
//! The generator (`src/codegen`) is not part of this library: `build.rs` and the generator
//! tests include it by path, so the server never compiles or links it.

pub mod auth;
pub mod backplane;
pub mod config;
pub mod handlers;
pub mod ingest;
pub mod knowledge;
pub mod llm;
pub mod protocol;
pub mod runtime;
pub mod server;
pub mod store;
pub mod telemetry;
