//! Running one tool call the model made: refuse what cannot run, ask a person first when the
//! tool needs approval (parking the turn), and time every call.

use std::time::Duration;

use super::accumulate::PendingCall;
use super::TurnInput;
use crate::protocol::validate::bounded;
use crate::runtime::confirm::Decision;
use crate::runtime::sink::TurnSink;
use crate::runtime::tools::{parse_arguments, ToolOutcome, ToolSet};
use crate::runtime::Runtime;

/// Longest argument summary in a confirmation prompt.
const DESCRIPTION_ARGS_CHARS: usize = 400;
/// Result the model sees when a person rejects a call.
const DENIED: &str = "blocked by hook: User denied: user rejected the action";
/// Result the model sees when nobody answers a confirmation in time.
const UNCONFIRMED: &str = "blocked by hook: confirmation timeout";

/// Announces and runs one call. A call that needs approval parks first: the prompt, then the
/// call's toolCall chunk, then the wait (the order clients rely on, by construction).
pub(super) async fn run(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    tools: &ToolSet,
    call: &PendingCall,
) -> ToolOutcome {
    let prepared = match tools.prepare(&call.name, &call.arguments) {
        Ok(prepared) => prepared,
        Err(refusal) => {
            // Unknown tools and malformed arguments are refused before anyone is asked.
            sink.tool_call(&call.name, &call.arguments).await;
            return refusal;
        }
    };
    if !runtime.needs_confirmation(&call.name, input.agent.as_ref()) {
        sink.tool_call(&call.name, &call.arguments).await;
        return timed(&call.name, tools.run(prepared)).await;
    }
    let session_id = input.session.session_id;
    let parked = runtime.confirmations.park(session_id, input.turn_id);
    sink.confirmation_required(&call.name, &describe(&call.name, &call.arguments))
        .await;
    sink.tool_call(&call.name, &call.arguments).await;
    let timeout = Duration::from_secs(runtime.config.confirm_timeout_secs);
    let (decision, answered_from) = parked.wait(timeout).await;
    tracing::info!(session = %session_id, tool = %call.name, ?decision, "tool confirmation");
    if let Some(other) = answered_from {
        if sink.adopt_if_orphaned(&other) {
            tracing::info!(session = %session_id, "turn's client left; streaming the rest to the confirming connection");
        }
    }
    match decision {
        Decision::Approved => timed(&call.name, tools.run(prepared)).await,
        Decision::Denied => ToolOutcome::error(DENIED.to_string()),
        Decision::TimedOut => ToolOutcome::error(UNCONFIRMED.to_string()),
    }
}

/// A confirmation prompt a person can judge: the tool and the arguments it would run with.
fn describe(name: &str, arguments: &str) -> String {
    let arguments = parse_arguments(arguments).unwrap_or_default();
    if arguments.is_empty() {
        return format!("Tool '{name}' requires confirmation. Allow?");
    }
    let parts: Vec<String> = arguments
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(s) => format!("{key} = \"{s}\""),
            other => format!("{key} = {other}"),
        })
        .collect();
    format!(
        "Tool '{name}' requires confirmation to run with {}. Allow?",
        bounded(&parts.join(", "), DESCRIPTION_ARGS_CHARS)
    )
}

/// Runs a tool call and logs its name, outcome and duration (never its arguments or result,
/// which may hold personal data).
async fn timed(name: &str, run: impl std::future::Future<Output = ToolOutcome>) -> ToolOutcome {
    let started = std::time::Instant::now();
    let outcome = run.await;
    tracing::info!(
        tool = %name,
        is_error = outcome.is_error,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "tool call finished"
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_name_the_tool_and_its_arguments() {
        assert_eq!(
            describe("delete_record", ""),
            "Tool 'delete_record' requires confirmation. Allow?"
        );
        let text = describe("delete_record", r#"{"id":"123","force":true}"#);
        assert!(text.contains("'delete_record'"), "{text}");
        assert!(text.contains("id = \"123\""), "{text}");
        assert!(text.contains("force = true"), "{text}");
        let long = describe("t", &format!(r#"{{"note":"{}"}}"#, "n".repeat(2000)));
        assert!(long.chars().count() < 500, "{}", long.len());
    }
}
