//! Guided conversations: the current workflow step is in the system prompt, and a judge call
//! after each turn decides whether it advances (only a whole-word "yes"), with a cap on turns
//! per step; the position is stored with the session and a failing judge never fails a turn.

mod common;

use common::gateway::{MockGateway, Reply};
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;

const AGENT: &str = "9c4f0e6a-3d5b-4a7c-8e9f-4a0b2c3d5e7f";

fn reply(value: Value) -> Reply {
    serde_json::from_value(value).expect("reply script")
}

/// The system prompt of a recorded chat request.
fn system(request: &common::gateway::Recorded) -> String {
    request.body["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn the_judge_advances_holds_and_caps_the_workflow() {
    // Each turn is one chat request and one judge request.
    let script = vec![
        json!({"tokens": ["Hello! How can I help?"]}),
        json!({"tokens": ["Yes."]}),
        json!({"tokens": ["What is your order number?"]}),
        json!({"tokens": ["no"]}),
        json!({"tokens": ["Could you check the number?"]}),
        json!({"tokens": ["unknown"]}),
        json!({"tokens": ["Please send the number."]}),
        json!({"status": 500}),
        json!({"tokens": ["Still need the number."]}),
        json!({"tokens": ["maybe"]}),
        json!({"tokens": ["All done."]}),
        json!({"tokens": ["yes"]}),
    ];
    let gateway = MockGateway::start(script.into_iter().map(reply).collect()).await;
    let dir = tempfile::tempdir().unwrap();
    let agents = dir.path().join("agents.json");
    std::fs::write(
        &agents,
        json!([{"id": AGENT, "conversationWorkflow": {
            "goal": "Resolve the customer's order problem",
            "maxAttemptsPerStep": 4,
            "steps": [
                {"id": "greet", "intent": "Greet the customer", "criteria": "The customer was greeted"},
                {"id": "identify", "intent": "Get the order number", "criteria": "An order number was given", "next": "resolve"},
                {"id": "skipped", "intent": "Never reached", "criteria": "never"},
                {"id": "resolve", "intent": "Resolve the problem", "criteria": "The problem is solved"}
            ]}}])
        .to_string(),
    )
    .unwrap();
    let mut config = Config::for_tests();
    config.agents_file = Some(agents);
    config.agent.gateway_url = Some(gateway.base_url());
    config.agent.judge_model = Some("judge-model".into());
    config.agent.gateway_retries = 0;
    let server = start_with(config).await;
    let mut client = Client::connect(&server).await;
    let ack = client
        .request(
            json!({"action": "create_conversation_session", "requestId": "c", "agentId": AGENT}),
        )
        .await;
    let session = ack["data"]["sessionId"].as_str().unwrap().to_string();
    for (i, message) in [
        "hi",
        "my order is late",
        "I do not know",
        "A-1",
        "thanks",
        "bye",
    ]
    .iter()
    .enumerate()
    {
        let request = format!("r{i}");
        client
            .send(
                json!({"action": "send_message", "requestId": request, "sessionId": session,
                         "message": message, "stream": false}),
            )
            .await;
        assert_eq!(client.recv().await["status"], 202);
        let done = client.recv().await;
        assert_eq!(done["type"], "eventual_response", "turn {i}: {done}");
    }
    let requests = gateway.requests();
    assert_eq!(requests.len(), 12);
    let chat: Vec<String> = requests.iter().step_by(2).map(system).collect();
    let judge = |i: usize| &requests[2 * i + 1];
    // Turn 0 on greet; judged yes → identify.
    assert!(chat[0].contains("(id greet)"), "{}", chat[0]);
    assert!(chat[0].contains("Resolve the customer's order problem"));
    assert!(chat[1].contains("(id identify)"), "{}", chat[1]);
    // "no", "unknown", a failing judge and "maybe" hold the step…
    assert!(chat[2].contains("(id identify)"), "held on no: {}", chat[2]);
    assert!(
        chat[3].contains("(id identify)"),
        "held on unknown: {}",
        chat[3]
    );
    assert!(
        chat[4].contains("(id identify)"),
        "held on a judge failure: {}",
        chat[4]
    );
    // …until the fourth turn on the step hits the cap and it advances to its `next`, skipping a
    // step; the last step stays.
    assert!(chat[5].contains("(id resolve)"), "capped: {}", chat[5]);
    for i in [0, 1, 2, 4, 5] {
        let body = &judge(i).body;
        assert_eq!(body["model"], "judge-model");
        assert_eq!(body["max_tokens"], 16);
        assert!(body.get("tools").is_none());
    }
    assert!(judge(1).body.to_string().contains("my order is late"));
    assert!(judge(1)
        .body
        .to_string()
        .contains("What is your order number?"));
    server.shutdown().await.unwrap();
}
