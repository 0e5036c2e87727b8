// Pass case: the same generated protocol with every action handled builds and dispatches.

#[allow(dead_code)]
mod generated {
    include!("extra_action_protocol.rs");
}
use generated::*;

fn dispatch(a: Action) -> &'static str {
    match a {
        Action::Ping(_) => "pong",
        Action::GetThing(_) => "thing",
        Action::DeleteThing(_) => "deleted",
    }
}

fn decode(frame: &str) -> Action {
    serde_json::from_str(frame).unwrap_or_else(|e| panic!("{frame} does not decode: {e}"))
}

fn main() {
    assert_eq!(Action::NAMES, ["delete_thing", "get_thing", "ping"]);
    let id = "6f1c2a47-3b1e-4d8a-9a51-2f0c9e7d1b23";
    let frames = [
        (r#"{"action":"ping"}"#.to_string(), "ping", "pong"),
        (
            format!(r#"{{"action":"get_thing","thingId":"{id}"}}"#),
            "get_thing",
            "thing",
        ),
        (
            format!(r#"{{"action":"delete_thing","thingId":"{id}","requestId":"r1"}}"#),
            "delete_thing",
            "deleted",
        ),
    ];
    for (frame, name, answer) in &frames {
        let action = decode(frame);
        assert_eq!(action.name(), *name);
        assert_eq!(dispatch(action.clone()), *answer);
        // The tag is written exactly once and the frame survives a round trip.
        let text = serde_json::to_string(&action).unwrap();
        assert_eq!(text.matches("\"action\"").count(), 1, "{text}");
        assert_eq!(decode(&text), action);
    }
    // The generated types still enforce the spec: unknown action, unknown field, bad uuid.
    assert!(serde_json::from_str::<Action>(r#"{"action":"explode"}"#).is_err());
    assert!(serde_json::from_str::<Action>(r#"{"action":"ping","extra":1}"#).is_err());
    assert!(serde_json::from_str::<Action>(r#"{"action":"get_thing","thingId":"x"}"#).is_err());
    assert!(serde_json::from_str::<Action>(r#"{"action":"get_thing"}"#).is_err());
}
