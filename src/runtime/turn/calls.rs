//! Running one tool call the model made: refuse what cannot run, check who may trigger it (an
//! `end_user` tool parks the turn until the end user passes a one-time code), ask a person first
//! when the tool needs approval (parking the turn), and time every call.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::accumulate::PendingCall;
use super::TurnInput;
use crate::auth::tool_gate::{self, Gate};
use crate::protocol::{ClientError, ErrorCode};
use crate::runtime::interaction;
use crate::runtime::otp::StartError;
use crate::runtime::park::{Decision, OtpOutcome};
use crate::runtime::sink::TurnSink;
use crate::runtime::tools::{parse_arguments, submit_interaction, ToolOutcome, ToolSet};
use crate::runtime::Runtime;

/// Result the model sees when a person rejects a call.
const DENIED: &str = "blocked by hook: User denied: user rejected the action";
/// Result the model sees when nobody answers a confirmation in time.
const UNCONFIRMED: &str = "blocked by hook: confirmation timeout";

/// Announces and runs one call. A call that needs approval parks first: the prompt, then the
/// call's toolCall chunk, then the wait (the order clients rely on, by construction). A call
/// that needs a verified end user is announced before the code is asked for, and only once
/// (when it also needs approval, the prompt follows the verification).
pub(super) async fn run(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    tools: &ToolSet,
    call: &PendingCall,
) -> ToolOutcome {
    let cap = usize::try_from(runtime.config.max_tool_argument_bytes).unwrap_or(usize::MAX);
    if call.arguments.len() > cap {
        // Refused before anyone is asked: nobody can judge what they cannot read.
        sink.tool_call(&call.name, "{}").await;
        return ToolOutcome::error(format!(
            "error: the arguments are larger than {cap} bytes; call the tool with less data"
        ));
    }
    let prepared = match tools.prepare(&call.name, &call.arguments) {
        Ok(prepared) => prepared,
        Err(refusal) => {
            // Unknown tools and malformed arguments are refused before anyone is asked.
            sink.tool_call(&call.name, &call.arguments).await;
            return refusal;
        }
    };
    if let Some(kind) = tools.raises(&call.name) {
        // Conversational by design: no approval, no verification, it only asks the user.
        // Boxed, like the verification below: rare and large, they would otherwise size the
        // future of every call, parked or not.
        return Box::pin(interaction::raise(
            runtime,
            sink,
            &input.session,
            input.turn_id,
            kind,
            &call.arguments,
            prepared.arguments(),
        ))
        .await;
    }
    if tools.records_interaction(&call.name) {
        // Conversational too: it records what the user already said.
        sink.tool_call(&call.name, &call.arguments).await;
        return submit_interaction::call(runtime, &input.session, prepared.arguments()).await;
    }
    let verified = input.end_user_verified.load(Ordering::Acquire);
    // Whether the call's toolCall chunk went out already (before a code was asked for).
    let mut announced = false;
    match tool_gate::decide(input.agent.as_ref(), &call.name, &input.principal, verified) {
        Gate::Allowed => {}
        Gate::AdminOnly => {
            sink.tool_call(&call.name, &call.arguments).await;
            return ToolOutcome::error(format!(
                "blocked by hook: Tool '{}' requires admin authentication and is not available \
                 on public-facing agents.",
                call.name
            ));
        }
        Gate::NeedsVerifiedUser => {
            if runtime.needs_confirmation(&call.name, input.agent.as_ref()) {
                // Approval follows the code: the person must see exactly what they approve.
                sink.tool_call_always(&call.name, &call.arguments).await;
            } else {
                sink.tool_call(&call.name, &call.arguments).await;
            }
            announced = true;
            if let Err(refusal) = Box::pin(verify_end_user(runtime, sink, input, &call.name)).await
            {
                return refusal;
            }
            if !runtime.needs_confirmation(&call.name, input.agent.as_ref()) {
                return timed(&call.name, tools.run(prepared)).await;
            }
        }
    }
    if !runtime.needs_confirmation(&call.name, input.agent.as_ref()) {
        sink.tool_call(&call.name, &call.arguments).await;
        return timed(&call.name, tools.run(prepared)).await;
    }
    let session_id = input.session.session_id;
    let parked = runtime.confirmations.park(session_id, input.turn_id);
    sink.confirmation_required(&call.name, &describe(&call.name, &call.arguments))
        .await;
    // The structured call is sent even with `stream: false`: a person must see exactly what
    // they approve.
    if !announced {
        sink.tool_call_always(&call.name, &call.arguments).await;
    }
    let timeout = Duration::from_secs(runtime.config.confirm_timeout_secs);
    let (answer, answered_from) = parked.wait(timeout).await;
    let decision = Decision::from_answer(answer);
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

/// Proves who the end user is before `tool` runs: `otp_verification_required`, a code delivered
/// (`otp_sent`), then the turn waits until `verify_otp` succeeds, the verification is over, the
/// code expires, or the turn is cancelled (its future dropped). `Err` is the tool's result.
async fn verify_end_user(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    tool: &str,
) -> Result<(), ToolOutcome> {
    let refused = |why: &str| {
        ToolOutcome::error(format!(
            "blocked by hook: I need to verify your identity before I can use {tool}. {why}"
        ))
    };
    let session = &input.session;
    let channels = runtime.otp.channels(session);
    if !runtime.otp.available() {
        return Err(refused("Identity verification is not available here."));
    }
    if channels.is_empty() {
        return Err(refused(
            "This conversation has no e-mail address to send a one-time code to; please start \
             a new conversation with your e-mail address.",
        ));
    }
    // Parked before anything is sent, so a fast verify_otp always finds the turn.
    let parked = runtime.otp.waits.park(session.session_id, input.turn_id);
    sink.otp_verification_required(
        tool,
        &format!("Verify your identity to continue using '{tool}'."),
        &channels,
    )
    .await;
    match runtime.otp.start(session, sink.request_id(), tool).await {
        Ok(started) => {
            // Also when the live code of a moment ago is reused: the client learns where the
            // code it needs went (otp_verification_required promises otp_sent or an error).
            if !started.sent_now {
                tracing::info!(session = %session.session_id, "live one-time code reused");
            }
            sink.otp_sent(&started.channel, &started.masked).await;
        }
        Err(StartError::Delivery(detail)) => {
            tracing::warn!(session = %session.session_id, reason = %detail, "one-time code not delivered");
            let error =
                ClientError::new(ErrorCode::OtpSendFailed, "failed to send verification code");
            sink.notice(&error).await;
            return Err(refused(
                "The verification code could not be sent; please try again later.",
            ));
        }
        Err(e) => {
            tracing::error!(session = %session.session_id, error = %e, "one-time code not started");
            return Err(refused(
                "Identity verification failed; please try again later.",
            ));
        }
    }
    let answer = wait_for_code(runtime, sink, input, parked).await;
    match answer {
        Some(OtpOutcome::Verified) => {
            input.end_user_verified.store(true, Ordering::Release);
            Ok(())
        }
        Some(OtpOutcome::Exhausted) => {
            Err(refused("The verification failed: no attempts are left."))
        }
        Some(OtpOutcome::Expired) | None => Err(refused("The verification code expired.")),
    }
}

/// How often a turn waiting for a code checks the store (a `verify_otp` handled by another
/// process) and refreshes its heartbeat.
const OTP_POLL: Duration = Duration::from_secs(1);

/// Waits for the code's outcome: told directly by a `verify_otp` on this process, or seen in
/// the store when another process handled it; `None` when the code's lifetime ran out.
async fn wait_for_code(
    runtime: &Runtime,
    sink: &TurnSink,
    input: &TurnInput,
    mut parked: crate::runtime::park::Parked<'_, OtpOutcome>,
) -> Option<OtpOutcome> {
    use crate::runtime::park::Polled;
    let deadline = tokio::time::Instant::now() + runtime.otp.ttl();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        match parked.poll_for(left.min(OTP_POLL)).await {
            Polled::Answered(outcome, from) => {
                if let Some(other) = from {
                    sink.adopt_if_orphaned(&other);
                }
                return Some(outcome);
            }
            Polled::Gone => return None,
            Polled::Waiting => match runtime.otp.poll(input.session.session_id).await {
                Ok(Some(outcome)) => return Some(outcome),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not check the verification"),
            },
        }
    }
}

/// A confirmation prompt a person can judge: the tool and the complete arguments it would run
/// with, as canonical JSON (sorted keys, escaped strings), so no value can hide another or be
/// cut off. Oversized arguments never get this far (`ToolSet::prepare` refuses them).
fn describe(name: &str, arguments: &str) -> String {
    let arguments = parse_arguments(arguments).unwrap_or_default();
    if arguments.is_empty() {
        return format!("Tool '{name}' requires confirmation to run without arguments. Allow?");
    }
    let canonical = serde_json::Value::Object(arguments).to_string();
    format!("Tool '{name}' requires confirmation to run with the arguments {canonical}. Allow?")
}

/// Runs a tool call and logs its name, outcome and duration (never its arguments or result,
/// which may hold personal data). The tool's future is boxed before anything awaits it: a turn
/// parked on an approval keeps its own future for minutes, and an HTTP tool's request state
/// inline would make every parked turn that much larger.
fn timed<'a>(
    name: &'a str,
    run: impl std::future::Future<Output = ToolOutcome> + Send + 'a,
) -> impl std::future::Future<Output = ToolOutcome> + Send + 'a {
    let run = Box::pin(run);
    async move {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_show_every_argument_escaped_and_complete() {
        assert_eq!(
            describe("delete_record", ""),
            "Tool 'delete_record' requires confirmation to run without arguments. Allow?"
        );
        let text = describe("delete_record", r#"{"id":"123","force":true}"#);
        assert!(text.contains(r#"{"force":true,"id":"123"}"#), "{text}");
        // A value cannot pose as another argument, and filler cannot push the payload out.
        let sneaky = format!(
            r#"{{"note":"{}", "amount":5000, "memo":"\", amount = 1"}}"#,
            "x".repeat(3000)
        );
        let text = describe("refund", &sneaky);
        assert!(
            text.contains(r#""amount":5000"#),
            "the payload was cut or hidden"
        );
        assert!(text.contains(r#""memo":"\", amount = 1""#), "{text:.200}");
        assert!(text.contains(&"x".repeat(3000)));
    }
}
