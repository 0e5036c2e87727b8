//! Stored agent definitions (the agents file) as the model gateway sees them: instructions and
//! personality in the system prompt, the greeting on a conversation's first turn only, the
//! tool allow-list (built-in `knowledge_search` included), the agent's confirmation patterns,
//! model and iteration cap, and its name as `agentName`; and an invalid agents file stopping
//! start-up (library and binary) with an error naming the entry and field.

mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::gateway::{MockGateway, Recorded, Reply, ReplyToolCall};
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::runtime::DEFAULT_SYSTEM_PROMPT;
use smooth_operator::server::{self, ServerHandle};
use tool_server::{Endpoint, ToolServer};

/// An agent id no definition has.
const UNKNOWN: &str = "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11";

fn agent_id(n: u8) -> String {
    format!("a9e0d3f4-1b2c-4d5e-8f90-0a1b2c3d4e{n:02}")
}

fn write_file(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).expect("write file");
    path
}

/// Admin-enabled, in-memory config with `agents` as the agents file and the mock as gateway.
fn config(dir: &Path, agents: &Value, gateway: &MockGateway) -> Config {
    let mut config = admin_config();
    config.agents_file = Some(write_file(dir, "agents.json", agents));
    config.agent.gateway_url = Some(gateway.base_url());
    config
}

async fn create(client: &mut Client, agent: &str) -> Value {
    let ack = client
        .request(
            json!({"action": "create_conversation_session", "requestId": "c",
                        "agentId": agent}),
        )
        .await;
    assert_eq!(ack["type"], "immediate_response", "create failed: {ack}");
    ack["data"].clone()
}

fn session_id(data: &Value) -> String {
    data["sessionId"].as_str().expect("sessionId").to_string()
}

/// Sends a non-streamed `send_message` (with a `model` override when given) and returns the
/// first event after the 202 (the `eventual_response`, unless something parks the turn).
async fn send(client: &mut Client, session: &str, message: &str, model: Option<&str>) -> Value {
    let mut frame = json!({"action": "send_message", "requestId": "r", "sessionId": session,
                           "message": message, "stream": false});
    if let Some(model) = model {
        frame["model"] = json!(model);
    }
    let ack = client.request(frame).await;
    assert_eq!(ack["status"], 202, "turn not accepted: {ack}");
    client.recv().await
}

/// A turn that runs to its answer.
async fn turn(client: &mut Client, session: &str, message: &str) -> Value {
    let done = send(client, session, message, None).await;
    assert_eq!(done["type"], "eventual_response", "{done}");
    done
}

fn system_prompt(request: &Recorded) -> String {
    let first = &request.body["messages"][0];
    assert_eq!(first["role"], "system", "{}", request.body);
    first["content"]
        .as_str()
        .expect("system content")
        .to_string()
}

fn offered_tools(request: &Recorded) -> Vec<String> {
    let mut names: Vec<String> = request.body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| t["function"]["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn calls(name: &str, arguments: Value) -> Reply {
    Reply {
        tool_calls: vec![ReplyToolCall {
            name: name.to_string(),
            arguments,
            id: None,
        }],
        ..Reply::default()
    }
}

#[tokio::test]
async fn instructions_and_personality_make_the_system_prompt() {
    let gateway = MockGateway::start(vec![
        Reply::tokens(&["a"]),
        Reply::tokens(&["b"]),
        Reply::tokens(&["c"]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([
        {"id": agent_id(1), "instructions": "You help shoppers of Acme.",
         "personality": "Warm and brief."},
        {"id": agent_id(2), "personality": "Dry humour."}
    ]);
    let mut config = config(dir.path(), &agents, &gateway);
    config.agent.system_prompt = Some("SERVER PROMPT: be generic.".into());
    let server = start_with(config).await;
    let mut client = Client::connect(&server).await;
    for agent in [agent_id(1), agent_id(2), UNKNOWN.to_string()] {
        let session = session_id(&create(&mut client, &agent).await);
        turn(&mut client, &session, "Hello").await;
    }
    let requests = gateway.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(
        system_prompt(&requests[0]),
        "You help shoppers of Acme.\n\n<Personality>\nWarm and brief.\n</Personality>",
        "the agent's instructions replace the server prompt"
    );
    let personality_only = system_prompt(&requests[1]);
    assert!(
        personality_only.starts_with("SERVER PROMPT: be generic."),
        "{personality_only}"
    );
    assert!(
        personality_only.contains("<Personality>\nDry humour.\n</Personality>"),
        "{personality_only}"
    );
    assert_eq!(system_prompt(&requests[2]), "SERVER PROMPT: be generic.");
    for request in &requests {
        assert!(!system_prompt(request).contains(DEFAULT_SYSTEM_PROMPT));
    }
    server.shutdown().await.unwrap();
}

/// Two turns in one session of a greeting agent, then one in a new session; returns whether
/// each request's system prompt had the greeting.
async fn greeting_seen(history_messages: u32) -> Vec<bool> {
    let gateway = MockGateway::start(vec![
        Reply::tokens(&["Welcome! How can I help?"]),
        Reply::tokens(&["Sure."]),
        Reply::tokens(&["Welcome again."]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([{"id": agent_id(3), "greeting": "Welcome to Acme!",
                         "personality": "Warm."}]);
    let mut config = config(dir.path(), &agents, &gateway);
    config.agent.history_messages = history_messages;
    let server = start_with(config).await;
    let mut client = Client::connect(&server).await;
    let session = session_id(&create(&mut client, &agent_id(3)).await);
    turn(&mut client, &session, "Hi there").await;
    turn(&mut client, &session, "Where is my order?").await;
    let other = session_id(&create(&mut client, &agent_id(3)).await);
    turn(&mut client, &other, "Hello").await;
    let requests = gateway.requests();
    assert_eq!(requests.len(), 3);
    server.shutdown().await.unwrap();
    requests
        .iter()
        .map(|r| {
            let prompt = system_prompt(r);
            assert!(prompt.contains("<Personality>\nWarm.\n</Personality>"));
            prompt.contains("<Greeting>") && prompt.contains("Welcome to Acme!")
        })
        .collect()
}

#[tokio::test]
async fn the_greeting_is_given_on_a_conversations_first_turn_only() {
    assert_eq!(
        greeting_seen(50).await,
        [true, false, true],
        "greeting on turns (first, second, first of a new conversation)"
    );
}

#[tokio::test]
async fn the_greeting_stays_on_the_first_turn_with_a_one_message_history() {
    // The replayed window holds only the new message on every turn: that must not make every
    // turn look like the first.
    assert_eq!(greeting_seen(1).await, [true, false, true]);
}

/// Two declared HTTP tools on `tools`, plus a document so `knowledge_search` is offered.
async fn tools_server(
    dir: &Path,
    agents: &Value,
    gateway: &MockGateway,
    tools: &ToolServer,
    edit: impl FnOnce(&mut Config),
) -> ServerHandle {
    let declared = json!([
        {"name": "lookup_order", "description": "Looks up an order.",
         "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}},
                        "required": ["orderId"]},
         "http": {"url": format!("{}/orders", tools.base_url())}},
        {"name": "cancel_order", "description": "Cancels an order.",
         "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}},
                        "required": ["orderId"]},
         "http": {"url": format!("{}/cancel", tools.base_url())}},
        {"name": "issue_refund", "description": "Refunds an order.",
         "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}},
                        "required": ["orderId"]},
         "http": {"url": format!("{}/refunds", tools.base_url())}}
    ]);
    let mut config = config(dir, agents, gateway);
    config.agent.tools_file = Some(write_file(dir, "tools.json", &declared));
    edit(&mut config);
    let server = start_with(config).await;
    Admin::new(&server)
        .ingest(
            &json!({"source": "faq.md", "content": "Orders ship within two days."}),
            "created",
        )
        .await;
    server
}

async fn tool_endpoints() -> ToolServer {
    ToolServer::start(HashMap::from([
        ("orders".to_string(), Endpoint::default()),
        ("cancel".to_string(), Endpoint::default()),
        ("refunds".to_string(), Endpoint::default()),
    ]))
    .await
}

#[tokio::test]
async fn enabled_tools_are_the_allow_list_of_every_tool() {
    let gateway = MockGateway::start(vec![
        Reply::tokens(&["all"]),
        Reply::tokens(&["lookup only"]),
        Reply::tokens(&["search only"]),
        Reply::tokens(&["none enabled"]),
        // Under the lookup-only agent the model calls a tool it was not offered.
        calls("cancel_order", json!({"orderId": "A-1"})),
        Reply::tokens(&["I cannot cancel."]),
    ])
    .await;
    let tools = tool_endpoints().await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([
        {"id": agent_id(10)},
        {"id": agent_id(11), "enabledTools": [
            {"toolId": "lookup_order"},
            {"toolId": "cancel_order", "enabled": false},
            {"toolId": "not_declared_anywhere"}]},
        {"id": agent_id(12), "enabledTools": [{"toolId": "knowledge_search"}]},
        {"id": agent_id(13), "enabledTools": [{"toolId": "lookup_order", "enabled": false}]}
    ]);
    let server = tools_server(dir.path(), &agents, &gateway, &tools, |_| {}).await;
    let mut client = Client::connect(&server).await;
    for n in [10, 11, 12, 13] {
        let session = session_id(&create(&mut client, &agent_id(n)).await);
        turn(&mut client, &session, "Where is my order?").await;
    }
    let session = session_id(&create(&mut client, &agent_id(11)).await);
    turn(&mut client, &session, "Cancel order A-1").await;

    let requests = gateway.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(
        offered_tools(&requests[0]),
        [
            "cancel_order",
            "issue_refund",
            "knowledge_search",
            "lookup_order"
        ],
        "an agent without an allow-list is offered everything"
    );
    assert_eq!(offered_tools(&requests[1]), ["lookup_order"]);
    assert_eq!(offered_tools(&requests[2]), ["knowledge_search"]);
    assert_eq!(
        offered_tools(&requests[3]),
        Vec::<String>::new(),
        "an allow-list of disabled entries offers nothing"
    );
    assert!(requests[3].body.get("tools").is_none_or(Value::is_null));
    assert_eq!(offered_tools(&requests[4]), ["lookup_order"]);
    // The call of a tool outside the allow-list never reaches its endpoint.
    assert!(
        tools.requests_to("cancel").is_empty(),
        "a tool outside the allow-list ran"
    );
    let tool_message = requests[5].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .cloned()
        .unwrap_or_else(|| panic!("no tool result: {}", requests[5].body));
    assert!(
        tool_message["content"]
            .as_str()
            .unwrap()
            .contains("unknown tool"),
        "{tool_message}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_agents_confirm_tools_gate_a_tool_the_server_does_not() {
    let gateway = MockGateway::start(vec![
        calls("issue_refund", json!({"orderId": "A-1"})),
        Reply::tokens(&["Refunded."]),
        calls("issue_refund", json!({"orderId": "A-2"})),
        Reply::tokens(&["Not refunded."]),
    ])
    .await;
    let tools = tool_endpoints().await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([
        {"id": agent_id(20)},
        {"id": agent_id(21), "confirmTools": ["refund"]}
    ]);
    let server = tools_server(dir.path(), &agents, &gateway, &tools, |config| {
        config.agent.confirm_tools = vec!["delete".into()];
    })
    .await;
    let mut client = Client::connect(&server).await;

    // Without the agent's pattern the refund runs straight away.
    let session = session_id(&create(&mut client, &agent_id(20)).await);
    turn(&mut client, &session, "Refund A-1").await;
    assert_eq!(tools.requests_to("refunds").len(), 1);

    // With it, the turn parks until someone answers.
    let session = session_id(&create(&mut client, &agent_id(21)).await);
    let parked = send(&mut client, &session, "Refund A-2", None).await;
    assert_eq!(parked["type"], "write_confirmation_required", "{parked}");
    assert_eq!(parked["data"]["data"]["toolId"], "issue_refund", "{parked}");
    // The call itself is shown even without streaming: a person sees what they approve.
    let shown = client.recv().await;
    assert_eq!(
        shown["data"]["state"]["rawResponse"]["toolCall"]["name"], "issue_refund",
        "{shown}"
    );
    client.expect_silence(Duration::from_millis(300)).await;
    assert_eq!(tools.requests_to("refunds").len(), 1, "the gated call ran");
    let answer = client
        .request(json!({"action": "confirm_tool_action", "requestId": "k",
                        "sessionId": session, "approved": false}))
        .await;
    assert_eq!(answer["type"], "immediate_response", "{answer}");
    let done = client.recv().await;
    assert_eq!(done["type"], "eventual_response", "{done}");
    assert_eq!(
        tools.requests_to("refunds").len(),
        1,
        "a rejected call still ran"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_agents_model_is_used_and_client_overrides_are_still_checked() {
    let gateway = MockGateway::start(vec![
        Reply::tokens(&["1"]),
        Reply::tokens(&["2"]),
        Reply::tokens(&["3"]),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([{"id": agent_id(30), "model": "agent-model"}]);
    let mut config = config(dir.path(), &agents, &gateway);
    config.agent.allowed_models = vec!["allowed-model".into()];
    let server = start_with(config).await;
    let mut client = Client::connect(&server).await;
    let session = session_id(&create(&mut client, &agent_id(30)).await);
    turn(&mut client, &session, "one").await;

    // A model outside the server's allow-list is refused before anything runs, even though
    // the agent names its own model.
    let refused = client
        .request(
            json!({"action": "send_message", "requestId": "m", "sessionId": session,
                        "message": "two", "model": "forbidden-model"}),
        )
        .await;
    assert_error(&refused, "VALIDATION_ERROR", Some("m"));
    assert_eq!(gateway.request_count(), 1);

    let done = send(&mut client, &session, "three", Some("allowed-model")).await;
    assert_eq!(done["type"], "eventual_response", "{done}");
    let unknown = session_id(&create(&mut client, UNKNOWN).await);
    turn(&mut client, &unknown, "four").await;

    let models: Vec<Value> = gateway
        .requests()
        .iter()
        .map(|r| r.body["model"].clone())
        .collect();
    assert_eq!(
        models,
        [
            json!("agent-model"),
            json!("allowed-model"),
            json!("test-model")
        ]
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_agents_max_iterations_caps_the_tool_loop() {
    let looping: Vec<Reply> = (0..6)
        .map(|i| Reply {
            tokens: vec!["Still checking.".into()],
            ..calls("lookup_order", json!({"orderId": format!("A-{i}")}))
        })
        .collect();
    let gateway = MockGateway::start(looping).await;
    let tools = tool_endpoints().await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([{"id": agent_id(40), "maxIterations": 2}]);
    let server = tools_server(dir.path(), &agents, &gateway, &tools, |config| {
        config.agent.max_iterations = 6;
    })
    .await;
    let mut client = Client::connect(&server).await;
    let session = session_id(&create(&mut client, &agent_id(40)).await);
    turn(&mut client, &session, "Where is A-0?").await;
    let requests = gateway.requests();
    assert_eq!(requests.len(), 2, "the agent's cap of 2 model calls");
    assert_eq!(
        requests[1].body["tool_choice"], "none",
        "{}",
        requests[1].body
    );
    assert_eq!(
        tools.requests_to("orders").len(),
        1,
        "the last step's tool call must not run"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_agents_name_is_answered_as_agent_name() {
    let gateway = MockGateway::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let agents = json!([
        {"id": agent_id(50), "name": "Shop helper"},
        {"id": agent_id(51), "instructions": "No name."}
    ]);
    let server = start_with(config(dir.path(), &agents, &gateway)).await;
    let mut client = Client::connect(&server).await;
    for (agent, name) in [
        (agent_id(50), "Shop helper"),
        (agent_id(51), "smooth-agent"),
        (UNKNOWN.to_string(), "smooth-agent"),
        ("not-even-a-uuid".to_string(), "smooth-agent"),
    ] {
        let data = create(&mut client, &agent).await;
        assert_eq!(data["agentName"], name, "create, agent {agent}: {data}");
        assert_eq!(data["agentId"], agent.as_str());
        let got = client
            .request(json!({"action": "get_session", "requestId": "g",
                            "sessionId": data["sessionId"]}))
            .await;
        assert_eq!(got["type"], "immediate_response", "{got}");
        assert_eq!(
            got["data"]["agentName"], name,
            "get_session, agent {agent}: {got}"
        );
    }
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Invalid agents files.
// ---------------------------------------------------------------------------------------------

async fn start_error(agents_file: &Path) -> String {
    let mut config = Config::for_tests();
    config.agents_file = Some(agents_file.to_path_buf());
    config.bind = "127.0.0.1".parse().unwrap();
    config.port = 0;
    match server::bind_and_start(config).await {
        Ok(handle) => panic!(
            "server started with agents file {} on {}",
            agents_file.display(),
            handle.local_addr()
        ),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test]
async fn an_invalid_agents_file_stops_start_up_naming_the_entry_and_field() {
    let good = json!({"id": agent_id(60), "name": "Fine"});
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "bad UUID",
            json!([good, {"id": "not-a-uuid"}]).to_string(),
            vec!["entry #1 (not-a-uuid)", "'id'", "UUID"],
        ),
        (
            "missing id",
            json!([{"name": "anonymous"}]).to_string(),
            vec!["entry #0", "id"],
        ),
        (
            "unknown field",
            json!([good, {"id": agent_id(61), "colour": "red"}]).to_string(),
            vec!["entry #1", "colour"],
        ),
        (
            "unknown widget field",
            json!([{"id": agent_id(61), "widget": {"origins": ["*"]}}]).to_string(),
            vec!["entry #0", "widget", "origins"],
        ),
        (
            "bad authLevel",
            json!([good, {"id": agent_id(61),
                          "enabledTools": [{"toolId": "a", "authLevel": "root"}]}])
            .to_string(),
            vec!["entry #1", "enabledTools[0].authLevel"],
        ),
        (
            "bad visibility",
            json!([{"id": agent_id(61), "visibility": "secret"}]).to_string(),
            vec!["entry #0", "'visibility'"],
        ),
        (
            "maxIterations 0",
            json!([{"id": agent_id(61), "maxIterations": 0}]).to_string(),
            vec!["entry #0", "'maxIterations'"],
        ),
        (
            "maxIterations 51",
            json!([{"id": agent_id(61), "maxIterations": 51}]).to_string(),
            vec!["entry #0", "'maxIterations'"],
        ),
        (
            "name not a string",
            json!([{"id": agent_id(61), "name": 5}]).to_string(),
            vec!["entry #0", "'name'"],
        ),
        (
            "duplicate id",
            json!([good, {"id": agent_id(61)}, good]).to_string(),
            vec!["entry #2", "twice"],
        ),
        ("not an array", good.to_string(), vec!["JSON array"]),
        ("not JSON", "[{\"id\": ".to_string(), vec!["not valid JSON"]),
        ("empty file", String::new(), vec!["not valid JSON"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (case, text, expected) in cases {
        let path = dir.path().join("agents.json");
        std::fs::write(&path, &text).unwrap();
        let message = start_error(&path).await;
        assert!(
            message.contains(&path.display().to_string()),
            "{case}: the error should name the file: {message}"
        );
        for needle in expected {
            assert!(
                message.contains(needle),
                "{case}: the error should contain {needle:?}: {message}"
            );
        }
    }
    let missing = dir.path().join("absent.json");
    let message = start_error(&missing).await;
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
}

#[tokio::test]
async fn the_binary_exits_nonzero_on_an_invalid_agents_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "agents.json",
        &json!([{"id": agent_id(70)},
                {"id": agent_id(71), "enabledTools": [{"toolId": "x", "authLevel": "root"}]}]),
    );
    let file = path.display().to_string();
    let envs = [
        ("SMOOTH_AGENT_AGENTS_FILE", file.as_str()),
        ("SMOOTH_AGENT_PORT", "0"),
        ("SMOOTH_AGENT_BIND", "127.0.0.1"),
        ("SMOOTH_AGENT_STORAGE", "memory"),
    ];
    let (ok, code, stdout, stderr) = run_binary(&[], &envs, Duration::from_secs(30)).await;
    assert!(!ok, "the binary must fail ({code:?}); stderr: {stderr}");
    let label = format!("entry #1 ({})", agent_id(71));
    for needle in [label.as_str(), "enabledTools[0].authLevel", file.as_str()] {
        assert!(
            stderr.contains(needle),
            "stderr should name {needle:?}: {stderr}"
        );
    }
    assert!(!stdout.contains("listening"), "{stdout}");
}
