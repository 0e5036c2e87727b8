//! Prometheus metrics: every metric's name, its description, and the one function per event that
//! records it, with labels bounded by construction.
//!
//! Every layer above records through this module (it sits just above `protocol` and `config`,
//! below `store`), through the `metrics` facade; the server installs the process-wide recorder
//! and serves `GET /metrics` (`server::metrics`). With no recorder installed (unit tests, the
//! `ingest` command) recording does nothing.
//!
//! Labels never carry a session, request, user, organisation or connection id, nor any other
//! value a client or a model chooses: actions, events and error codes come from the protocol's
//! fixed catalogues (anything else is [`UNKNOWN_ACTION`]), tool names only when the turn offered
//! the tool (else [`UNDECLARED_TOOL`]), HTTP statuses only within 100..=599, and store
//! operations are the `Store` trait's method names.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | [`WS_CONNECTIONS`] | gauge | |
//! | [`WS_FRAMES_RECEIVED`] | counter | `action` |
//! | [`WS_FRAMES_SENT`] | counter | `event` |
//! | [`CLIENT_ERRORS`] | counter | `code`, `transport` (`ws`, `http`) |
//! | [`TURNS_STARTED`] | counter | |
//! | [`TURNS_FINISHED`] | counter | `outcome` (`completed`, `failed`, `cancelled`) |
//! | [`TURNS_RUNNING`] | gauge | |
//! | [`TURN_FIRST_TOKEN`] | histogram | |
//! | [`TURN_DURATION`] | histogram | `outcome` |
//! | [`LLM_REQUESTS`] | counter | `operation` (`chat`, `embeddings`), `status` |
//! | [`LLM_REQUEST_DURATION`] | histogram | `operation` |
//! | [`TOOL_CALLS`] | counter | `tool`, `outcome` (`ok`, `error`) |
//! | [`STORE_OPERATION_DURATION`] | histogram | `operation` |
//! | [`BACKPLANE_PUBLISHES`], [`BACKPLANE_DELIVERIES`], [`BACKPLANE_RECONNECTS`] | counter | |
//!
//! `telemetry` uses only `protocol` (for the catalogues); the backplane, store, llm and
//! everything above record through it.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

use crate::protocol::{Action, ErrorCode, Event};

/// Gauge: WebSocket connections open now.
pub const WS_CONNECTIONS: &str = "smooth_ws_connections";
/// Counter: WebSocket frames received, by `action` (`unknown` for frames that did not decode).
pub const WS_FRAMES_RECEIVED: &str = "smooth_ws_frames_received_total";
/// Counter: events written to WebSocket clients, by `event` (the event `type`).
pub const WS_FRAMES_SENT: &str = "smooth_ws_frames_sent_total";
/// Counter: errors sent to clients, by `code` and `transport` (`ws` events, `http` answers).
pub const CLIENT_ERRORS: &str = "smooth_client_errors_total";
/// Counter: turns started (acknowledged with 202).
pub const TURNS_STARTED: &str = "smooth_turns_started_total";
/// Counter: turns finished, by `outcome`.
pub const TURNS_FINISHED: &str = "smooth_turns_finished_total";
/// Gauge: turns running now.
pub const TURNS_RUNNING: &str = "smooth_turns_running";
/// Histogram: seconds from a turn's start to its first answer token.
pub const TURN_FIRST_TOKEN: &str = "smooth_turn_first_token_seconds";
/// Histogram: seconds from a turn's start to its terminal event, by `outcome`.
pub const TURN_DURATION: &str = "smooth_turn_duration_seconds";
/// Counter: model gateway requests, by `operation` and `status` (HTTP status, or `timeout` /
/// `unreachable` when no answer came).
pub const LLM_REQUESTS: &str = "smooth_llm_requests_total";
/// Histogram: seconds until the model gateway answered a request with its headers (or failed),
/// by `operation`; a streamed body's duration is the turn's.
pub const LLM_REQUEST_DURATION: &str = "smooth_llm_request_duration_seconds";
/// Counter: tool calls the model made, by `tool` and `outcome`.
pub const TOOL_CALLS: &str = "smooth_tool_calls_total";
/// Histogram: seconds per storage operation, by `operation` (a `Store` method name).
pub const STORE_OPERATION_DURATION: &str = "smooth_store_operation_duration_seconds";
/// Counter: events published on the backplane (to a session's or an agent's sockets on every
/// pod: an orphaned turn's events, `POST /admin/publish`), by this pod.
pub const BACKPLANE_PUBLISHES: &str = "smooth_backplane_publishes_total";
/// Counter: backplane events this pod handed to its own sockets' inbox (in process: one per
/// publish; Redis: one per event received from the bus).
pub const BACKPLANE_DELIVERIES: &str = "smooth_backplane_deliveries_total";
/// Counter: times the Redis backplane's subscriber lost its subscription and subscribed again
/// (0 with the in-process backplane).
pub const BACKPLANE_RECONNECTS: &str = "smooth_backplane_reconnects_total";

/// The `action` label of a frame that did not decode to a known action.
pub const UNKNOWN_ACTION: &str = "unknown";
/// The `tool` label of a call to a tool the turn did not offer (a name the model made up).
pub const UNDECLARED_TOOL: &str = "undeclared";

/// Upper bounds (seconds) of every histogram's buckets: sub-millisecond store reads up to
/// long turns.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 900.0,
];

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnOutcome {
    /// `eventual_response`.
    Completed,
    /// A terminal `error`.
    Failed,
    /// `cancelled`.
    Cancelled,
}

impl TurnOutcome {
    /// The `outcome` label.
    pub fn as_str(self) -> &'static str {
        match self {
            TurnOutcome::Completed => "completed",
            TurnOutcome::Failed => "failed",
            TurnOutcome::Cancelled => "cancelled",
        }
    }

    const ALL: [TurnOutcome; 3] = [
        TurnOutcome::Completed,
        TurnOutcome::Failed,
        TurnOutcome::Cancelled,
    ];
}

/// Which gateway endpoint a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmOperation {
    /// `POST {base}/chat/completions`.
    Chat,
    /// `POST {base}/embeddings`.
    Embeddings,
}

impl LlmOperation {
    /// The `operation` label.
    pub fn as_str(self) -> &'static str {
        match self {
            LlmOperation::Chat => "chat",
            LlmOperation::Embeddings => "embeddings",
        }
    }
}

/// How the gateway answered one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmAnswer {
    /// Response headers with this HTTP status.
    Status(u16),
    /// Nothing within the read timeout.
    Timeout,
    /// No connection, or the request could not be sent.
    Unreachable,
}

impl LlmAnswer {
    /// The `status` label: the status code within 100..=599, else `invalid`; `timeout` or
    /// `unreachable` when no answer came.
    pub fn label(self) -> Cow<'static, str> {
        match self {
            LlmAnswer::Status(status) if (100..=599).contains(&status) => {
                Cow::Owned(status.to_string())
            }
            LlmAnswer::Status(_) => Cow::Borrowed("invalid"),
            LlmAnswer::Timeout => Cow::Borrowed("timeout"),
            LlmAnswer::Unreachable => Cow::Borrowed("unreachable"),
        }
    }
}

/// Describes every metric and creates the unlabelled ones (and each turn outcome) at 0, so a
/// scrape lists them before anything happened. Called once, right after the recorder is
/// installed.
pub fn describe() {
    describe_gauge!(
        WS_CONNECTIONS,
        Unit::Count,
        "WebSocket connections open now."
    );
    describe_counter!(
        WS_FRAMES_RECEIVED,
        Unit::Count,
        "WebSocket frames received, by action (`unknown` for frames that did not decode)."
    );
    describe_counter!(
        WS_FRAMES_SENT,
        Unit::Count,
        "Events written to WebSocket clients, by event type."
    );
    describe_counter!(
        CLIENT_ERRORS,
        Unit::Count,
        "Errors sent to clients, by error code and transport (ws event, http answer)."
    );
    describe_counter!(TURNS_STARTED, Unit::Count, "Turns started.");
    describe_counter!(
        TURNS_FINISHED,
        Unit::Count,
        "Turns finished, by outcome (completed, failed, cancelled)."
    );
    describe_gauge!(TURNS_RUNNING, Unit::Count, "Turns running now.");
    describe_histogram!(
        TURN_FIRST_TOKEN,
        Unit::Seconds,
        "Time from a turn's start to its first answer token."
    );
    describe_histogram!(
        TURN_DURATION,
        Unit::Seconds,
        "Time from a turn's start to its terminal event, by outcome."
    );
    describe_counter!(
        LLM_REQUESTS,
        Unit::Count,
        "Model gateway requests, by operation and HTTP status (timeout, unreachable: no answer)."
    );
    describe_histogram!(
        LLM_REQUEST_DURATION,
        Unit::Seconds,
        "Time until the model gateway answered a request with its headers, by operation."
    );
    describe_counter!(
        TOOL_CALLS,
        Unit::Count,
        "Tool calls made by the model, by tool (undeclared: a tool the turn did not offer) and outcome."
    );
    describe_histogram!(
        STORE_OPERATION_DURATION,
        Unit::Seconds,
        "Time per storage operation, by operation."
    );
    describe_counter!(
        BACKPLANE_PUBLISHES,
        Unit::Count,
        "Events this pod published on the backplane (for sockets on every pod)."
    );
    describe_counter!(
        BACKPLANE_DELIVERIES,
        Unit::Count,
        "Backplane events this pod handed to its own sockets."
    );
    describe_counter!(
        BACKPLANE_RECONNECTS,
        Unit::Count,
        "Times the Redis backplane subscriber had to subscribe again."
    );
    // Registering a handle creates the series at 0.
    gauge!(WS_CONNECTIONS).increment(0.0);
    gauge!(TURNS_RUNNING).increment(0.0);
    for name in [
        TURNS_STARTED,
        BACKPLANE_PUBLISHES,
        BACKPLANE_DELIVERIES,
        BACKPLANE_RECONNECTS,
    ] {
        counter!(name).increment(0);
    }
    for outcome in TurnOutcome::ALL {
        counter!(TURNS_FINISHED, "outcome" => outcome.as_str()).increment(0);
    }
}

/// Counts an open WebSocket connection until the returned guard is dropped.
#[must_use = "the connection counts as open while the guard lives"]
pub fn connection_opened() -> ConnectionGuard {
    gauge!(WS_CONNECTIONS).increment(1.0);
    ConnectionGuard(())
}

/// An open connection's place in [`WS_CONNECTIONS`]; dropping it closes the connection's count.
#[derive(Debug)]
pub struct ConnectionGuard(());

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        gauge!(WS_CONNECTIONS).decrement(1.0);
    }
}

/// The `action` label of a received frame: the decoded action's name, or [`UNKNOWN_ACTION`].
pub fn action_label(action: Option<&Action>) -> &'static str {
    action.map_or(UNKNOWN_ACTION, Action::name)
}

/// Counts a received frame: its decoded action, or `None` for a frame that did not decode
/// (invalid JSON, unknown action, schema violation, binary, oversized).
pub fn frame_received(action: Option<&Action>) {
    counter!(WS_FRAMES_RECEIVED, "action" => action_label(action)).increment(1);
}

/// Counts an event written to a WebSocket client, and the error it carries, if any.
pub fn frame_sent(event: &Event) {
    counter!(WS_FRAMES_SENT, "event" => event.name()).increment(1);
    if let Event::Error(error) = event {
        client_error(error.error.code, "ws");
    }
}

/// Counts an error answered over HTTP.
pub fn http_error(code: ErrorCode) {
    client_error(code, "http");
}

fn client_error(code: ErrorCode, transport: &'static str) {
    // An `ErrorCode` prints one of the catalogue's fixed names.
    counter!(CLIENT_ERRORS, "code" => code.to_string(), "transport" => transport).increment(1);
}

/// One turn's measurements: counted as started and running when created, finished (once) with
/// the first terminal event; a turn dropped without one counts as failed.
#[derive(Debug)]
pub struct TurnMeter {
    started: Instant,
    first_token: AtomicBool,
    finished: AtomicBool,
}

impl TurnMeter {
    /// Counts a turn as started and running.
    pub fn start() -> Self {
        counter!(TURNS_STARTED).increment(1);
        gauge!(TURNS_RUNNING).increment(1.0);
        Self {
            started: Instant::now(),
            first_token: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        }
    }

    /// Records the time to the first answer token (later calls do nothing).
    pub fn token(&self) {
        if !self.first_token.swap(true, Ordering::AcqRel) {
            histogram!(TURN_FIRST_TOKEN).record(self.started.elapsed().as_secs_f64());
        }
    }

    /// Counts the turn as finished with `outcome` and no longer running (later calls do
    /// nothing).
    pub fn finish(&self, outcome: TurnOutcome) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        gauge!(TURNS_RUNNING).decrement(1.0);
        counter!(TURNS_FINISHED, "outcome" => outcome.as_str()).increment(1);
        histogram!(TURN_DURATION, "outcome" => outcome.as_str())
            .record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for TurnMeter {
    fn drop(&mut self) {
        self.finish(TurnOutcome::Failed);
    }
}

/// Records one gateway request: its answer and how long it took to come.
pub fn llm_request(operation: LlmOperation, answer: LlmAnswer, elapsed: Duration) {
    counter!(LLM_REQUESTS, "operation" => operation.as_str(), "status" => answer.label())
        .increment(1);
    histogram!(LLM_REQUEST_DURATION, "operation" => operation.as_str())
        .record(elapsed.as_secs_f64());
}

/// The `tool` label of a call: its name when the turn offered that tool, else
/// [`UNDECLARED_TOOL`].
pub fn tool_label(name: &str, offered: bool) -> Cow<'static, str> {
    if offered {
        Cow::Owned(name.to_string())
    } else {
        Cow::Borrowed(UNDECLARED_TOOL)
    }
}

/// Counts a tool call the model made: `offered` says whether the turn offered a tool of that
/// name, `is_error` whether the call failed or was refused.
pub fn tool_call(name: &str, offered: bool, is_error: bool) {
    let outcome = if is_error { "error" } else { "ok" };
    counter!(TOOL_CALLS, "tool" => tool_label(name, offered), "outcome" => outcome).increment(1);
}

/// Counts an event this pod published on the backplane.
pub fn backplane_published() {
    counter!(BACKPLANE_PUBLISHES).increment(1);
}

/// Counts a backplane event handed to this pod's sockets.
pub fn backplane_delivered() {
    counter!(BACKPLANE_DELIVERIES).increment(1);
}

/// Counts a new subscription after the Redis backplane's subscriber lost its connection.
pub fn backplane_reconnected() {
    counter!(BACKPLANE_RECONNECTS).increment(1);
}

/// Records how long storage operation `operation` (a `Store` method name) took.
pub fn store_operation(operation: &'static str, elapsed: Duration) {
    histogram!(STORE_OPERATION_DURATION, "operation" => operation).record(elapsed.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;
    use crate::protocol::{events, PingRequest};

    /// Runs `record` against a fresh local recorder and returns the scrape.
    fn scrape(record: impl FnOnce()) -> String {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            describe();
            record();
        });
        handle.render()
    }

    #[test]
    fn labels_stay_within_fixed_sets() {
        assert_eq!(action_label(None), UNKNOWN_ACTION);
        let ping = Action::Ping(PingRequest::default());
        assert_eq!(action_label(Some(&ping)), "ping");
        assert_eq!(tool_label("lookup_order", true), "lookup_order");
        assert_eq!(
            tool_label("made_up_by_the_model_9f2c", false),
            UNDECLARED_TOOL
        );
        assert_eq!(LlmAnswer::Status(200).label(), "200");
        assert_eq!(LlmAnswer::Status(429).label(), "429");
        assert_eq!(LlmAnswer::Status(0).label(), "invalid");
        assert_eq!(LlmAnswer::Status(1000).label(), "invalid");
        assert_eq!(LlmAnswer::Timeout.label(), "timeout");
        assert_eq!(LlmAnswer::Unreachable.label(), "unreachable");
    }

    #[test]
    fn recorded_series_use_the_bounded_labels() {
        let text = scrape(|| {
            frame_received(None);
            frame_received(Some(&Action::Ping(PingRequest::default())));
            frame_sent(&events::error(
                Some("7d7f3a52-3d3a-4a8e-9d0b-3b8f8f0b6c1a".into()),
                ErrorCode::ValidationError,
                "bad",
            ));
            tool_call("invented_tool", false, true);
            tool_call("lookup_order", true, false);
            llm_request(
                LlmOperation::Chat,
                LlmAnswer::Status(200),
                Duration::from_millis(3),
            );
        });
        for line in [
            r#"smooth_ws_frames_received_total{action="unknown"} 1"#,
            r#"smooth_ws_frames_received_total{action="ping"} 1"#,
            r#"smooth_ws_frames_sent_total{event="error"} 1"#,
            r#"smooth_client_errors_total{code="VALIDATION_ERROR",transport="ws"} 1"#,
            r#"smooth_tool_calls_total{tool="undeclared",outcome="error"} 1"#,
            r#"smooth_tool_calls_total{tool="lookup_order",outcome="ok"} 1"#,
            r#"smooth_llm_requests_total{operation="chat",status="200"} 1"#,
            r#"smooth_llm_request_duration_seconds_count{operation="chat"} 1"#,
            "smooth_backplane_publishes_total 0",
            "smooth_turns_running 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
        assert!(!text.contains("invented_tool"), "{text}");
        assert!(
            !text.contains("7d7f3a52"),
            "a request id became a label: {text}"
        );
    }

    #[test]
    fn a_turn_finishes_once_and_a_dropped_turn_counts_as_failed() {
        let text = scrape(|| {
            let meter = TurnMeter::start();
            meter.token();
            meter.token();
            meter.finish(TurnOutcome::Completed);
            meter.finish(TurnOutcome::Cancelled);
            drop(meter);
            drop(TurnMeter::start());
        });
        for line in [
            "smooth_turns_started_total 2",
            r#"smooth_turns_finished_total{outcome="completed"} 1"#,
            r#"smooth_turns_finished_total{outcome="cancelled"} 0"#,
            r#"smooth_turns_finished_total{outcome="failed"} 1"#,
            "smooth_turns_running 0",
            "smooth_turn_first_token_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in:\n{text}"
            );
        }
    }
}
