//! The tools a model may call during a turn: the built-in `knowledge_search` and the HTTP tools
//! declared in the tools file. A call never fails the turn: problems are error results.

pub mod declared;
pub mod directive;
pub mod knowledge_search;
pub mod submit_interaction;

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::knowledge::DynKnowledge;
use crate::llm::ToolSpec;
use crate::protocol::Session;
use crate::store::acl::Access;
use crate::store::agent::AgentDefinition;
use crate::store::ChunkHit;
use declared::DeclaredTools;

/// Longest tool result shown to clients in a `toolResult` chunk (the model sees all of it).
pub const RESULT_PREVIEW_CHARS: usize = 500;

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// Text handed back to the model.
    pub text: String,
    /// Whether the call failed or was refused.
    pub is_error: bool,
    /// Knowledge hits the call returned (they become citations).
    pub hits: Vec<ChunkHit>,
    /// What the call does to the turn's client directive.
    pub directive: Option<directive::DirectiveUpdate>,
}

impl ToolOutcome {
    /// A successful result.
    pub fn ok(text: String) -> Self {
        Self {
            text,
            is_error: false,
            hits: Vec::new(),
            directive: None,
        }
    }

    /// A failed or refused call.
    pub fn error(text: String) -> Self {
        Self {
            text,
            is_error: true,
            hits: Vec::new(),
            directive: None,
        }
    }
}

/// The tools available to one turn.
pub struct ToolSet {
    specs: Vec<ToolSpec>,
    declared: Arc<DeclaredTools>,
    knowledge: Option<(DynKnowledge, Access)>,
    files: Vec<Value>,
}

impl ToolSet {
    /// The declared tools, plus `knowledge_search` over `knowledge` for the reader when given
    /// (a declared tool of the same name replaces the built-in one); an agent with an
    /// allow-list keeps only the tools it enables, built-in ones included. The interaction
    /// raise tools are offered when `raise` (the client declared a rich capability) or the
    /// agent's allow-list names them; `submit_interaction` comes with a raise tool whose kind the
    /// session's client cannot render. `files` (the message's attachments) go to the declared
    /// tools that accept files.
    pub fn new(
        declared: Arc<DeclaredTools>,
        knowledge: Option<(DynKnowledge, Access)>,
        agent: Option<&AgentDefinition>,
        files: Vec<Value>,
        session: &Session,
    ) -> Self {
        let raise = !session.supports.is_empty();
        let mut specs = Vec::new();
        if knowledge.is_some() && declared.get(knowledge_search::NAME).is_none() {
            specs.push(knowledge_search::spec());
        }
        for spec in crate::runtime::interaction::tool_specs() {
            let named = agent.is_some_and(|a| matches!(a.tool_entry(&spec.name), Some(Some(_))));
            if (raise || named) && declared.get(&spec.name).is_none() {
                specs.push(spec);
            }
        }
        specs.extend(declared.tools().iter().map(|t| t.spec.clone()));
        if let Some(agent) = agent {
            specs.retain(|spec| !matches!(agent.tool_entry(&spec.name), Some(None)));
        }
        let entry = agent.map(|a| a.tool_entry(submit_interaction::NAME));
        let recorder_wanted =
            submit_interaction::wanted(&specs, session) || matches!(entry, Some(Some(Some(_))));
        let recorder_allowed = !matches!(entry, Some(Some(None)));
        if recorder_wanted && recorder_allowed && declared.get(submit_interaction::NAME).is_none() {
            specs.push(submit_interaction::spec());
        }
        Self {
            specs,
            declared,
            knowledge,
            files,
        }
    }

    /// The tool descriptions offered to the model.
    pub fn specs(&self) -> &[ToolSpec] {
        &self.specs
    }

    /// Whether the model was offered a tool named `name` this turn.
    pub fn offers(&self, name: &str) -> bool {
        self.specs.iter().any(|s| s.name == name)
    }

    /// Checks a call before it runs: the tool must be offered and the arguments a JSON object
    /// that fits its parameters. `Err` is the error result the model sees.
    pub fn prepare(&self, name: &str, arguments: &str) -> Result<Prepared, ToolOutcome> {
        if !self.offers(name) {
            return Err(ToolOutcome::error(format!("unknown tool: {name}")));
        }
        let arguments = parse_arguments(arguments).map_err(ToolOutcome::error)?;
        if let Some(tool) = self.declared.get(name) {
            declared::check_arguments(tool, &arguments).map_err(ToolOutcome::error)?;
        }
        Ok(Prepared {
            name: name.to_string(),
            arguments,
        })
    }

    /// The interaction kind `name` raises, when it is an offered built-in raise tool (a
    /// declared tool of the same name replaces it).
    pub fn raises(&self, name: &str) -> Option<crate::runtime::interaction::Kind> {
        crate::runtime::interaction::Kind::for_tool(name)
            .filter(|_| self.declared.get(name).is_none())
            .filter(|_| self.specs.iter().any(|s| s.name == name))
    }

    /// Whether `name` is the built-in, offered `submit_interaction` (a declared tool of the same
    /// name replaces it).
    pub fn records_interaction(&self, name: &str) -> bool {
        name == submit_interaction::NAME
            && self.declared.get(name).is_none()
            && self.specs.iter().any(|s| s.name == name)
    }

    /// Runs a prepared call.
    pub async fn run(&self, call: Prepared) -> ToolOutcome {
        if let Some(tool) = self.declared.get(&call.name) {
            return self.declared.call(tool, &call.arguments, &self.files).await;
        }
        match &self.knowledge {
            Some((knowledge, access)) if call.name == knowledge_search::NAME => {
                knowledge_search::call(knowledge, access, &call.arguments).await
            }
            _ => ToolOutcome::error(format!("unknown tool: {}", call.name)),
        }
    }

    /// Checks and runs one call.
    pub async fn call(&self, name: &str, arguments: &str) -> ToolOutcome {
        match self.prepare(name, arguments) {
            Ok(call) => self.run(call).await,
            Err(refusal) => refusal,
        }
    }
}

/// A call that passed [`ToolSet::prepare`].
#[derive(Debug)]
pub struct Prepared {
    name: String,
    arguments: Map<String, Value>,
}

impl Prepared {
    /// The call's arguments, parsed.
    pub fn arguments(&self) -> &Map<String, Value> {
        &self.arguments
    }
}

/// The call's arguments as a JSON object (an empty string means no arguments).
pub fn parse_arguments(arguments: &str) -> Result<Map<String, Value>, String> {
    if arguments.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("error: invalid arguments: expected a JSON object".to_string()),
        Err(e) => Err(format!("error: invalid arguments: not valid JSON ({e})")),
    }
}

/// The first [`RESULT_PREVIEW_CHARS`] characters of a tool result.
pub fn preview(text: &str) -> String {
    text.chars().take(RESULT_PREVIEW_CHARS).collect()
}
