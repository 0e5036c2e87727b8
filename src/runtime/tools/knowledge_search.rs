//! The built-in `knowledge_search` tool: lets the model search the knowledge base again, with
//! the turn's access rights. Its hits become citations.

use std::sync::LazyLock;

use serde_json::{json, Map, Value};

use super::ToolOutcome;
use crate::knowledge::Knowledge;
use crate::llm::ToolSpec;
use crate::store::acl::Access;
use crate::store::Reader;

/// The tool's name.
pub const NAME: &str = "knowledge_search";
/// Results when the model gives no limit.
const DEFAULT_LIMIT: u32 = 3;
/// Most results one call may ask for.
const MAX_LIMIT: u32 = 10;

/// The description and parameters offered to the model (built once; a clone shares them).
pub fn spec() -> ToolSpec {
    static SPEC: LazyLock<ToolSpec> = LazyLock::new(build_spec);
    SPEC.clone()
}

fn build_spec() -> ToolSpec {
    ToolSpec {
        name: NAME.to_string(),
        description: "Search the organisation's knowledge base (policies, guides, product \
                      documents). Use it before answering questions about the organisation, and \
                      base your answer on what it returns."
            .to_string(),
        parameters: json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in a few words."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "description": "How many results to return (default 3)."}
            },
            "required": ["query"],
            "additionalProperties": false
        })
        .into(),
    }
}

/// Runs a search for the reader.
pub async fn call(
    knowledge: &Knowledge,
    access: &Access,
    arguments: &Map<String, Value>,
) -> ToolOutcome {
    let Some(query) = arguments
        .get("query")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|q| !q.is_empty())
    else {
        return ToolOutcome::error("error: knowledge_search needs a non-empty 'query'".to_string());
    };
    // Models often get numbers slightly wrong; clamp instead of failing the call.
    let limit = match arguments.get("limit") {
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|f| f.round().clamp(1.0, f64::from(MAX_LIMIT)) as u32)
            .unwrap_or(DEFAULT_LIMIT),
        Some(Value::String(s)) => s
            .trim()
            .parse::<u32>()
            .map(|n| n.clamp(1, MAX_LIMIT))
            .unwrap_or(DEFAULT_LIMIT),
        _ => DEFAULT_LIMIT,
    };
    match knowledge.search(query, limit, Reader::As(access)).await {
        Err(e) => {
            tracing::error!(error = %e, "knowledge_search failed");
            ToolOutcome::error("error: the knowledge base could not be searched".to_string())
        }
        Ok(hits) if hits.is_empty() => ToolOutcome::ok(format!(
            "No knowledge base results found for query: {query}"
        )),
        Ok(hits) => {
            let mut text = format!(
                "Found {} knowledge base result(s) for \"{query}\":",
                hits.len()
            );
            for (i, hit) in hits.iter().enumerate() {
                text.push_str(&format!(
                    "\n\n{}. [source={} | id={} | relevance={:.2}]\n{}",
                    i + 1,
                    hit.source,
                    hit.document_id,
                    hit.score,
                    hit.text
                ));
            }
            ToolOutcome {
                hits,
                ..ToolOutcome::ok(text)
            }
        }
    }
}
