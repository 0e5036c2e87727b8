//! `GET /metrics`: the Prometheus text exposition of everything [`crate::telemetry`] records.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder), so it is
//! installed once, on first use, however many servers a process starts; they then share one set
//! of metrics. Histograms are rendered as real Prometheus histograms (buckets
//! [`telemetry::SECONDS_BUCKETS`]); a background thread runs the recorder's upkeep so samples
//! do not pile up between scrapes.
//!
//! Access: with `SMOOTH_AGENT_METRICS_TOKEN` unset the endpoint is open, like `/healthz` (no
//! metric carries an id, a name a client chose, or any secret); with it set, a scrape must send
//! `Authorization: Bearer <token>` (compared in constant time), else 401.

use std::sync::OnceLock;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use subtle::ConstantTimeEq;

use super::AppState;
use crate::protocol::{ClientError, ErrorCode};
use crate::telemetry;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often the upkeep thread drains histogram samples.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder handle, installing the recorder (and describing every metric) the
/// first time it is asked for.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(telemetry::SECONDS_BUCKETS)
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => telemetry::describe(),
            // A host embedding the library installed its own recorder: metrics go there, and
            // this endpoint shows an empty scrape.
            Err(e) => tracing::warn!(error = %e, "another metrics recorder is installed; /metrics stays empty"),
        }
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the metrics upkeep thread");
        }
        handle
    })
}

/// `GET /metrics`: the scrape, after the bearer check when a metrics token is configured.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.config.metrics_token {
        let given = super::bearer(&headers, None);
        let ok = given
            .is_some_and(|token| bool::from(token.as_bytes().ct_eq(expected.expose().as_bytes())));
        if !ok {
            let code = if given.is_some() {
                ErrorCode::InvalidToken
            } else {
                ErrorCode::Unauthenticated
            };
            return ClientError::new(code, "a valid metrics token is required").into_response();
        }
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        handle().render(),
    )
        .into_response()
}
