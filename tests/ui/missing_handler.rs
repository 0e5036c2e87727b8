// Compile-fail case: a dispatcher that forgets the action the spec added last must not build.
// `extra_action_protocol.rs` is the generator's output for tests/fixtures/codegen/extra_action.

#[allow(dead_code)]
mod generated {
    include!("extra_action_protocol.rs");
}
use generated::*;

fn dispatch(a: Action) -> &'static str {
    match a {
        Action::Ping(_) => "pong",
        Action::GetThing(_) => "thing",
    }
}

fn main() {
    let _ = dispatch;
}
