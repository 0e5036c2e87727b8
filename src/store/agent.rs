//! Agent definitions: what makes one `agentId` behave differently from another (instructions,
//! personality, greeting, model, tools, confirmation patterns, widget policy). They are stored,
//! so every pod sees the same agents; the agents file and the admin API write them.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Display name of an agent without a name of its own.
pub const DEFAULT_AGENT_NAME: &str = "smooth-agent";
/// Longest accepted free-text field (instructions, personality, greeting), in characters.
pub const MAX_TEXT_CHARS: usize = 32 * 1024;
/// Most model calls an agent may allow per turn.
pub const MAX_AGENT_ITERATIONS: u32 = 50;

/// Who an agent serves; decides which tool auth levels apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Talks to the public (the default): gated tools need a verified user.
    #[default]
    Public,
    /// Used inside the organisation: every enabled tool runs.
    Internal,
}

/// Who may trigger a tool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthLevel {
    /// Anyone (the default).
    #[default]
    None,
    /// Only a verified end user.
    EndUser,
    /// Only an admin principal.
    Admin,
}

/// One entry of an agent's tool allow-list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnabledTool {
    /// The tool's name.
    pub tool_id: String,
    /// Whether the tool is offered (default true).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Who may trigger it.
    #[serde(default)]
    pub auth_level: AuthLevel,
    /// Per-tool settings, passed to the tool.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// Which websites may embed an agent, and the secret they sign `authContext` with.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WidgetBlock {
    /// Origins allowed to embed the agent: `*`, an exact origin, or `scheme://*.suffix`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Shared secret of the `authContext` HMAC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_secret: Option<String>,
    /// Organisation of the sessions created through the widget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
}

impl std::fmt::Debug for WidgetBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetBlock")
            .field("allowed_origins", &self.allowed_origins)
            .field("auth_secret", &self.auth_secret.as_ref().map(|_| "<set>"))
            .field("organization_id", &self.organization_id)
            .finish()
    }
}

/// One step of a guided conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WorkflowStep {
    /// The step's id (unique in the workflow).
    pub id: String,
    /// What the agent tries to achieve in this step.
    pub intent: String,
    /// When the step counts as done (what the judge checks).
    pub criteria: String,
    /// The step to go to when this one is done (default: the next in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A guided conversation: a goal reached through steps, judged after every turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConversationWorkflow {
    /// What the whole conversation should achieve.
    pub goal: String,
    /// The steps, the first one first.
    pub steps: Vec<WorkflowStep>,
    /// Turns on one step after which it advances even when not judged done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts_per_step: Option<u32>,
}

impl ConversationWorkflow {
    /// The step with `id`, else the first one.
    pub fn step(&self, id: Option<&str>) -> &WorkflowStep {
        id.and_then(|id| self.steps.iter().find(|s| s.id == id))
            .unwrap_or(&self.steps[0])
    }

    /// The step after `current` when it is done: its `next`, else the following one; the last
    /// step stays.
    pub fn after<'a>(&'a self, current: &'a WorkflowStep) -> &'a WorkflowStep {
        if let Some(next) = current.next.as_deref() {
            if let Some(step) = self.steps.iter().find(|s| s.id == next) {
                return step;
            }
        }
        let at = self
            .steps
            .iter()
            .position(|s| s.id == current.id)
            .unwrap_or(0);
        self.steps.get(at + 1).unwrap_or(current)
    }
}

/// One agent's behaviour. Every field but `id` is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentDefinition {
    /// The agent id clients name in `agentId` (a UUID).
    pub id: String,
    /// Display name, answered as `agentName` (default `smooth-agent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The organisation the agent belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The base system prompt (the server's default prompt when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// A personality added to the system prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<String>,
    /// How to open the conversation (used on its first turn only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    /// The model of the agent's turns (a client override is still checked against the
    /// server's allow-list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Most model calls per turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// Who the agent serves.
    #[serde(default)]
    pub visibility: Visibility,
    /// When non-empty, the only tools offered (built-in ones included).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enabled_tools: Vec<EnabledTool>,
    /// Tool-name patterns needing approval, added to the server's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confirm_tools: Vec<String>,
    /// Which websites may embed the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<WidgetBlock>,
    /// A guided conversation the agent leads, step by step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_workflow: Option<ConversationWorkflow>,
}

impl AgentDefinition {
    /// Parses and checks one definition; the error names the field.
    pub fn from_value(value: Value) -> Result<Self, String> {
        let agent: AgentDefinition =
            serde_path_to_error::deserialize(value).map_err(|e| match e.path().to_string() {
                path if path == "." => e.inner().to_string(),
                path => format!("'{path}': {}", e.inner()),
            })?;
        agent.validated()
    }

    /// The definition with blank optional text treated as absent, or what is wrong with it.
    pub fn validated(mut self) -> Result<Self, String> {
        self.id = self.id.trim().to_string();
        if uuid::Uuid::parse_str(&self.id).is_err() {
            return Err("'id' must be a UUID".to_string());
        }
        for (field, value) in [
            ("name", &mut self.name),
            ("organizationId", &mut self.organization_id),
            ("model", &mut self.model),
        ] {
            *value = value
                .take()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty());
            if value.as_ref().is_some_and(|v| v.chars().count() > 256) {
                return Err(format!("'{field}' is longer than 256 characters"));
            }
        }
        for (field, value) in [
            ("instructions", &mut self.instructions),
            ("personality", &mut self.personality),
            ("greeting", &mut self.greeting),
        ] {
            *value = value.take().filter(|v| !v.trim().is_empty());
            if value
                .as_ref()
                .is_some_and(|v| v.chars().count() > MAX_TEXT_CHARS)
            {
                return Err(format!(
                    "'{field}' is longer than {MAX_TEXT_CHARS} characters"
                ));
            }
        }
        if let Some(n) = self.max_iterations {
            if !(1..=MAX_AGENT_ITERATIONS).contains(&n) {
                return Err(format!(
                    "'maxIterations' must be between 1 and {MAX_AGENT_ITERATIONS}"
                ));
            }
        }
        let mut seen = HashSet::new();
        for (i, tool) in self.enabled_tools.iter_mut().enumerate() {
            tool.tool_id = tool.tool_id.trim().to_string();
            if tool.tool_id.is_empty() {
                return Err(format!("'enabledTools[{i}].toolId' must not be blank"));
            }
            if !seen.insert(tool.tool_id.clone()) {
                return Err(format!(
                    "'enabledTools[{i}].toolId' {:?} is listed twice",
                    tool.tool_id
                ));
            }
        }
        if let Some(workflow) = &self.conversation_workflow {
            if workflow.steps.is_empty() {
                return Err("'conversationWorkflow.steps' must not be empty".to_string());
            }
            let mut ids = HashSet::new();
            for (i, step) in workflow.steps.iter().enumerate() {
                if step.id.trim().is_empty() || !ids.insert(step.id.as_str()) {
                    return Err(format!(
                        "'conversationWorkflow.steps[{i}].id' must be non-blank and unique"
                    ));
                }
            }
            for (i, step) in workflow.steps.iter().enumerate() {
                if let Some(next) = &step.next {
                    if !ids.contains(next.as_str()) {
                        return Err(format!(
                            "'conversationWorkflow.steps[{i}].next' names no step: {next:?}"
                        ));
                    }
                }
            }
            if workflow.max_attempts_per_step == Some(0) {
                return Err("'conversationWorkflow.maxAttemptsPerStep' must be at least 1".into());
            }
        }
        self.confirm_tools = self
            .confirm_tools
            .into_iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(widget) = &mut self.widget {
            widget.auth_secret = widget.auth_secret.take().filter(|s| !s.is_empty());
            widget.organization_id = widget
                .organization_id
                .take()
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty());
            for (i, origin) in widget.allowed_origins.iter().enumerate() {
                if origin.trim() != origin || origin.is_empty() {
                    return Err(format!(
                        "'widget.allowedOrigins[{i}]' must be '*', an origin or scheme://*.suffix"
                    ));
                }
            }
        }
        Ok(self)
    }

    /// Parses an agents file: a JSON array of definitions with distinct ids; the error names
    /// the entry and the field.
    pub fn parse_file(text: &str) -> Result<Vec<Self>, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Array(entries) = value else {
            return Err("the file must hold a JSON array of agent definitions".to_string());
        };
        let mut ids = HashSet::new();
        let mut agents = Vec::with_capacity(entries.len());
        for (index, entry) in entries.into_iter().enumerate() {
            let label = match entry.get("id").and_then(Value::as_str) {
                Some(id) => format!("entry #{index} ({id})"),
                None => format!("entry #{index}"),
            };
            let agent = Self::from_value(entry).map_err(|e| format!("{label}: {e}"))?;
            if !ids.insert(agent.id.clone()) {
                return Err(format!("{label}: the id is defined twice"));
            }
            agents.push(agent);
        }
        Ok(agents)
    }

    /// The allow-list entry enabling `tool`, when the agent has an allow-list: `None` means
    /// no allow-list (every tool is offered), `Some(None)` that the tool is not enabled.
    pub fn tool_entry(&self, tool: &str) -> Option<Option<&EnabledTool>> {
        if self.enabled_tools.is_empty() {
            return None;
        }
        Some(
            self.enabled_tools
                .iter()
                .find(|t| t.enabled && t.tool_id == tool),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ID: &str = "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11";

    #[test]
    fn a_full_definition_round_trips() {
        let value = json!({
            "id": ID, "name": "Shop helper", "organizationId": "acme",
            "instructions": "Help shoppers.", "personality": "Cheerful", "greeting": "Hi!",
            "model": "m1", "maxIterations": 8, "visibility": "internal",
            "enabledTools": [{"toolId": "lookup_order", "authLevel": "end_user", "config": {"x": 1}}],
            "confirmTools": ["refund"],
            "widget": {"allowedOrigins": ["https://shop.example"], "authSecret": "s3",
                       "organizationId": "acme"}
        });
        let agent = AgentDefinition::from_value(value).unwrap();
        assert_eq!(agent.visibility, Visibility::Internal);
        assert!(agent.enabled_tools[0].enabled, "enabled defaults to true");
        assert_eq!(agent.enabled_tools[0].auth_level, AuthLevel::EndUser);
        let again = AgentDefinition::from_value(serde_json::to_value(&agent).unwrap()).unwrap();
        assert_eq!(again, agent);
        assert!(
            !format!("{agent:?}").contains("s3"),
            "the widget secret leaked into Debug"
        );
    }

    #[test]
    fn only_the_id_is_required() {
        let agent = AgentDefinition::from_value(json!({"id": ID})).unwrap();
        assert_eq!(agent.visibility, Visibility::Public);
        assert_eq!(agent.tool_entry("anything"), None);
    }

    #[test]
    fn bad_entries_name_the_entry_and_field() {
        for (file, needle) in [
            (
                json!([{"id": "not-a-uuid"}]),
                "entry #0 (not-a-uuid): 'id' must be a UUID",
            ),
            (json!([{"id": ID, "maxIterations": 0}]), "'maxIterations'"),
            (json!([{"id": ID, "visibility": "secret"}]), "'visibility'"),
            (
                json!([{"id": ID, "enabledTools": [{"toolId": " "}]}]),
                "enabledTools[0].toolId",
            ),
            (
                json!([{"id": ID, "enabledTools": [{"toolId": "a", "authLevel": "root"}]}]),
                "enabledTools[0].authLevel",
            ),
            (json!([{"id": ID, "colour": "red"}]), "unknown field"),
            (json!([{"id": ID}, {"id": ID}]), "entry #1"),
            (json!({"id": ID}), "JSON array"),
            (
                json!([{"id": ID, "conversationWorkflow": {"goal": "g", "steps": []}}]),
                "steps' must not be empty",
            ),
            (
                json!([{"id": ID, "conversationWorkflow": {"goal": "g", "steps": [
                {"id": "a", "intent": "i", "criteria": "c", "next": "zz"}]}}]),
                "names no step",
            ),
        ] {
            let err = AgentDefinition::parse_file(&file.to_string()).unwrap_err();
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
    }

    #[test]
    fn workflow_steps_advance_by_next_then_order() {
        let agent = AgentDefinition::from_value(json!({"id": ID, "conversationWorkflow": {
        "goal": "g", "steps": [
            {"id": "a", "intent": "i", "criteria": "c", "next": "c"},
            {"id": "b", "intent": "i", "criteria": "c"},
            {"id": "c", "intent": "i", "criteria": "c"}
        ]}}))
        .unwrap();
        let flow = agent.conversation_workflow.unwrap();
        assert_eq!(flow.step(None).id, "a");
        assert_eq!(flow.step(Some("gone")).id, "a");
        assert_eq!(flow.after(flow.step(Some("a"))).id, "c");
        assert_eq!(flow.after(flow.step(Some("b"))).id, "c");
        assert_eq!(
            flow.after(flow.step(Some("c"))).id,
            "c",
            "the last step stays"
        );
    }

    #[test]
    fn allow_list_lookup() {
        let agent = AgentDefinition::from_value(json!({"id": ID, "enabledTools": [
            {"toolId": "a"}, {"toolId": "b", "enabled": false}
        ]}))
        .unwrap();
        assert!(matches!(agent.tool_entry("a"), Some(Some(_))));
        assert_eq!(agent.tool_entry("b"), Some(None));
        assert_eq!(agent.tool_entry("c"), Some(None));
    }
}
