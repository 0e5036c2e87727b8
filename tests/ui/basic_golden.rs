// Pass case: the golden output for tests/fixtures/codegen/basic compiles and behaves like its spec.

#[allow(dead_code)]
mod generated {
    include!("../fixtures/codegen/basic/expected.rs");
}
use generated::*;
use serde_json::{json, Value};

fn main() {
    assert_eq!(Action::NAMES, ["echo", "ping"]);
    assert_eq!(Event::NAMES, ["echoed", "pong"]);

    // Actions: tag owned by the enum, cross-file enum ref typed, constraints enforced.
    let echo: Action =
        serde_json::from_value(json!({"action": "echo", "text": "hi", "mood": "calm"})).unwrap();
    let Action::Echo(request) = &echo else {
        panic!("decoded {echo:?}");
    };
    assert_eq!(request.mood, Some(NoteMood::Calm));
    assert_eq!(&**request.text, "hi");
    assert_eq!(
        serde_json::to_value(&echo).unwrap(),
        json!({"action": "echo", "text": "hi", "mood": "calm"})
    );
    for bad in [
        json!({"action": "echo"}),
        json!({"action": "echo", "text": ""}),
        json!({"action": "echo", "text": "hi", "mood": "angry"}),
        json!({"action": "echo", "text": "hi", "extra": true}),
        json!({"action": "ping", "requestId": 7}),
        json!({"action": "pong"}),
    ] {
        assert!(
            serde_json::from_value::<Action>(bad.clone()).is_err(),
            "{bad} decoded"
        );
    }

    // Events: the `type` tag is written once; a frame survives a round trip.
    let pong = Event::Pong(PongEvent {
        data: PongEventData { timestamp: 5 },
        request_id: Some("r1".to_string()),
        timestamp: 5,
    });
    let value = serde_json::to_value(&pong).unwrap();
    assert_eq!(
        value,
        json!({"type": "pong", "requestId": "r1", "data": {"timestamp": 5}, "timestamp": 5})
    );
    assert_eq!(value.to_string().matches("\"type\"").count(), 1);
    let echoed = json!({
        "type": "echoed",
        "text": "hi",
        "mood": "excited",
        "at": "2024-05-01T12:00:00Z"
    });
    let event: Event = serde_json::from_value(echoed.clone()).unwrap();
    assert_eq!(event.name(), "echoed");
    assert_eq!(serde_json::to_value(&event).unwrap(), echoed);

    // Domain object with a uuid and the shared enum.
    let note: Note = serde_json::from_value(json!({
        "id": "6f1c2a47-3b1e-4d8a-9a51-2f0c9e7d1b23",
        "mood": "calm",
        "tags": ["a"]
    }))
    .unwrap();
    assert_eq!(note.tags, ["a"]);
    assert!(serde_json::from_value::<Note>(json!({"id": "nope", "mood": "calm"})).is_err());
    let response = EchoResponse {
        note,
        text: "hi".to_string(),
    };
    let _: Value = serde_json::to_value(response).unwrap();
}
