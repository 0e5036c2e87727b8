//! The tools a model may call during a turn, and how a call is executed.

use super::gateway::ToolSpec;

/// Longest tool result shown to clients in a `toolResult` chunk (the model sees all of it).
pub const RESULT_PREVIEW_CHARS: usize = 500;

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    /// Text handed back to the model.
    pub text: String,
    /// Whether the call failed or was refused.
    pub is_error: bool,
}

/// The tools available to one turn.
#[derive(Debug, Clone, Default)]
pub struct ToolSet {
    specs: Vec<ToolSpec>,
}

impl ToolSet {
    /// The tool descriptions offered to the model.
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    /// Runs one call. A tool the turn does not offer is an error result the model sees.
    pub async fn call(&self, name: &str, _arguments: &str) -> ToolOutcome {
        ToolOutcome {
            text: format!("unknown tool: {name}"),
            is_error: true,
        }
    }
}

/// The first [`RESULT_PREVIEW_CHARS`] characters of a tool result.
pub fn preview(text: &str) -> String {
    text.chars().take(RESULT_PREVIEW_CHARS).collect()
}
