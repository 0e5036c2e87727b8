//! The Markdown reference rendered as a standalone HTML page (served at `/docs`): pulldown-cmark
//! with GitHub-style tables and heading anchors, inside a page that loads only the server's own
//! stylesheet (no script, nothing from another origin).

use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag, TagEnd};

use super::markdown::slug;

const HEAD: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>smooth-operator protocol reference</title>
<link rel="icon" href="/assets/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/docs.css">
</head>
<body>
<header class="bar"><nav aria-label="Site"><a href="/">Chat</a> <a href="/docs" aria-current="page">Protocol reference</a> <a href="/asyncapi.json">AsyncAPI document</a></nav></header>
<main id="content">
"#;

const TAIL: &str = "</main>\n</body>\n</html>\n";

/// The full HTML page for `markdown`.
pub fn render(markdown: &str) -> String {
    let events: Vec<Event> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let events = with_heading_ids(events);
    let mut body = String::new();
    html::push_html(&mut body, events.into_iter());
    format!("{HEAD}{body}{TAIL}")
}

/// Gives every heading the id GitHub would (its text, slugged; repeats get `-1`, `-2`, …), so
/// the reference's `#anchor` links work on the page too.
fn with_heading_ids(mut events: Vec<Event>) -> Vec<Event> {
    let mut used: Vec<String> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading { .. }) = &events[i] {
            let mut text = String::new();
            for event in &events[i + 1..] {
                match event {
                    Event::End(TagEnd::Heading(_)) => break,
                    Event::Text(t) | Event::Code(t) => text.push_str(t),
                    _ => {}
                }
            }
            let base = slug(&text);
            let mut id = base.clone();
            let mut n = 0;
            while used.contains(&id) {
                n += 1;
                id = format!("{base}-{n}");
            }
            used.push(id.clone());
            if let Event::Start(Tag::Heading { id: heading_id, .. }) = &mut events[i] {
                *heading_id = Some(CowStr::from(id));
            }
        }
        i += 1;
    }
    events
}
