//! The chat page and the widget in a real headless Chromium (see `browser_support`), against the
//! real server and the scripted mock gateway: streaming, citations, approval, Stop, history on
//! reload, reconnecting, the widget on another origin, model markup shown as text, and the page
//! explaining a missing gateway. Every test fails on a browser console error and saves a
//! screenshot in its temp dir (printed).
//!
//! `UPDATE_README_SCREENSHOT=1` also writes the grounded-turn screenshot to
//! `src/server/web/screenshot.png`, the picture in the README.

mod browser_support;
mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use browser_support::Browser;
use common::gateway::{MockGateway, Reply, ReplyToolCall};
use common::{start_with, Admin};
use fantoccini::Locator;
use serde_json::{json, Value};
use smooth_operator::config::{Config, StorageKind};
use smooth_operator::server::ServerHandle;
use tool_server::{Endpoint, ToolServer};

/// The newest agent message's text (every text segment), or null before there is one.
const REPLY_TEXT: &str = "const a = [...document.querySelectorAll('.soc-agent')].pop(); \
    return a ? [...a.querySelectorAll('.soc-body')].map(n => n.textContent).join('') : null;";

/// Whether the newest agent message is finished.
const REPLY_DONE: &str = "const a = [...document.querySelectorAll('.soc-agent')].pop(); \
    return Boolean(a && a.classList.contains('soc-done'));";

/// Whether the page has a session and accepts typing.
const READY: &str = "const c = document.querySelector('.soc'); \
    const i = document.querySelector('.soc-input'); \
    return Boolean(c && c.dataset.sessionId && i && !i.disabled) && c.dataset.sessionId;";

/// A server config using the mock gateway.
fn config(gateway: &MockGateway) -> Config {
    let mut config = Config::for_tests();
    config.agent.gateway_url = Some(gateway.base_url());
    config
}

fn page(server: &ServerHandle) -> String {
    format!("http://{}/", server.local_addr())
}

/// Opens the page and waits until it has a session; returns the session id.
async fn open(browser: &Browser, url: &str) -> String {
    browser.goto(url).await;
    let session = browser.wait_for("the page to open a session", READY).await;
    session.as_str().expect("a session id").to_string()
}

/// Types `text` into the composer and presses Enter.
async fn ask(browser: &Browser, text: &str) {
    let input = browser.find(".soc-input").await;
    input.send_keys(text).await.expect("typing works");
    input.send_keys("\u{E007}").await.expect("Enter works");
}

async fn final_reply(browser: &Browser) -> String {
    browser.wait_for("the reply to finish", REPLY_DONE).await;
    let text = browser.js(REPLY_TEXT, vec![]).await;
    text.as_str().unwrap_or_default().to_string()
}

fn assert_gateway(gateway: &MockGateway) {
    let problems = gateway.check_expectations();
    assert!(problems.is_empty(), "gateway expectations: {problems:#?}");
}

#[tokio::test]
async fn streamed_reply_appears_token_by_token() {
    let tokens = ["Hello", " there,", " this", " answer", " streams", " in."];
    let mut reply = Reply::tokens(&tokens);
    reply.reasoning = vec!["The user wants".to_string(), " a greeting.".to_string()];
    reply.token_delay_ms = 200;
    let gateway = MockGateway::start(vec![reply]).await;
    let server = start_with(config(&gateway)).await;
    let browser = Browser::start("streaming").await;
    open(&browser, &page(&server)).await;

    // Accessible composer and log.
    let a11y = browser
        .js(
            "const i = document.querySelector('.soc-input'); \
             const label = document.querySelector(`label[for='${i.id}']`); \
             const log = document.querySelector('.soc-log'); \
             return [label && label.textContent, log.getAttribute('role'), \
                     log.getAttribute('aria-live'), document.activeElement !== null];",
            vec![],
        )
        .await;
    assert_eq!(
        a11y,
        json!(["Message", "log", "polite", true]),
        "a11y: {a11y}"
    );

    ask(&browser, "Say hello").await;
    let full: String = tokens.concat();
    let mut seen: Vec<String> = Vec::new();
    let mut busy_seen = false;
    let deadline = Instant::now() + browser_support::WAIT;
    loop {
        let state = browser
            .js(
                "const a = [...document.querySelectorAll('.soc-agent')].pop(); \
                 if (!a) return null; \
                 return [[...a.querySelectorAll('.soc-body')].map(n => n.textContent).join(''), \
                         a.getAttribute('aria-busy')];",
                vec![],
            )
            .await;
        if let Some(text) = state[0].as_str() {
            busy_seen |= state[1] == "true";
            if !text.is_empty() && seen.last().map(String::as_str) != Some(text) {
                seen.push(text.to_string());
            }
            if text == full {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "reply never completed; saw {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen.len() >= 3,
        "the reply should appear in pieces, saw only {seen:?}"
    );
    let mut prefix = String::new();
    let boundaries: Vec<String> = tokens
        .iter()
        .map(|t| {
            prefix.push_str(t);
            prefix.clone()
        })
        .collect();
    for text in &seen {
        assert!(
            boundaries.contains(text),
            "{text:?} is not the reply up to a token ({seen:?})"
        );
    }
    assert!(busy_seen, "the streaming message was never aria-busy");
    assert_eq!(final_reply(&browser).await, full);
    // Reasoning is shown collapsed, apart from the reply.
    let reasoning = browser
        .js(
            "const d = document.querySelector('.soc-agent .soc-reasoning'); \
             return d && [d.open, d.querySelector('summary').textContent, \
                          d.querySelector('.soc-reasoning-text').textContent];",
            vec![],
        )
        .await;
    assert_eq!(
        reasoning,
        json!([false, "Reasoning", "The user wants a greeting."])
    );
    let last_user = gateway.requests()[0].body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user").cloned());
    assert_eq!(
        last_user.map(|m| m["content"].clone()),
        Some(json!("Say hello"))
    );
    browser.screenshot("done").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn grounded_turn_shows_citation_links() {
    let reply = Reply::tokens(&[
        "You have **17 days** from delivery to return unworn items.",
        "\n\n- Clearance items are final sale\n- Refunds go to the original payment method",
    ]);
    let gateway = MockGateway::start(vec![reply]).await;
    let mut config = config(&gateway);
    config.admin_token = Some(common::ADMIN_TOKEN.into());
    let server = start_with(config).await;
    let admin = Admin::new(&server);
    admin
        .ingest(
            &json!({
                "source": "https://help.example.com/returns",
                "content": "Returns: unworn items may be returned within 17 days of delivery."
            }),
            "created",
        )
        .await;
    admin
        .ingest(
            &json!({
                "source": "policies/refunds.md",
                "content": "Refunds for returned items go back to the original payment method within 5 days."
            }),
            "created",
        )
        .await;
    let browser = Browser::start("grounded").await;
    open(&browser, &page(&server)).await;
    ask(&browser, "How many days do I have to return an item?").await;
    final_reply(&browser).await;
    let citations = browser
        .js(
            "return [...document.querySelectorAll('.soc-agent:last-of-type .soc-citation')].map(li => { \
               const a = li.querySelector('a'); \
               return a ? {link: a.href, rel: a.rel, target: a.target, text: a.textContent} \
                        : {text: li.querySelector('.soc-source').textContent}; });",
            vec![],
        )
        .await;
    let citations = citations.as_array().expect("a list").clone();
    assert!(
        citations.contains(&json!({
            "link": "https://help.example.com/returns",
            "rel": "noopener noreferrer",
            "target": "_blank",
            "text": "https://help.example.com/returns"
        })),
        "no link for the http citation: {citations:?}"
    );
    assert!(
        citations.contains(&json!({"text": "policies/refunds.md"})),
        "the path citation must be plain text: {citations:?}"
    );
    let markdown = browser
        .js(
            "const a = document.querySelector('.soc-agent:last-of-type .soc-md'); \
             return [a.querySelector('strong')?.textContent, a.querySelectorAll('li').length];",
            vec![],
        )
        .await;
    assert_eq!(markdown, json!(["17 days", 2]));
    let shot = browser.screenshot("done").await;
    if std::env::var("UPDATE_README_SCREENSHOT").as_deref() == Ok("1") {
        let target = concat!(env!("CARGO_MANIFEST_DIR"), "/src/server/web/screenshot.png");
        std::fs::copy(&shot, target).expect("copy the README screenshot");
    }
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn approval_prompt_is_answered_by_clicking() {
    let endpoint = Endpoint {
        body: Some(json!({"deleted": true, "id": "42"})),
        expect_calls: Some(1),
        ..Endpoint::default()
    };
    let tools = ToolServer::start(HashMap::from([("delete".to_string(), endpoint)])).await;
    let dir = tempfile::tempdir().unwrap();
    let tools_file = dir.path().join("tools.json");
    std::fs::write(
        &tools_file,
        json!([{
            "name": "delete_record",
            "description": "Deletes a record.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
            "http": {"url": format!("{}/delete", tools.base_url()), "method": "POST"}
        }])
        .to_string(),
    )
    .unwrap();
    let call = Reply {
        tool_calls: vec![ReplyToolCall {
            name: "delete_record".to_string(),
            arguments: json!({"id": "42"}),
            id: None,
        }],
        ..Reply::default()
    };
    let gateway =
        MockGateway::start(vec![call, Reply::tokens(&["Record 42", " is deleted."])]).await;
    let mut config = config(&gateway);
    config.agent.tools_file = Some(tools_file);
    config.agent.confirm_tools = vec!["delete".to_string()];
    let server = start_with(config).await;
    let browser = Browser::start("approval").await;
    open(&browser, &page(&server)).await;
    ask(&browser, "Delete record 42").await;
    let prompt = browser
        .wait_for(
            "the approval prompt",
            "const p = document.querySelector('.soc-confirm-text'); return p && p.textContent;",
        )
        .await;
    assert!(
        prompt
            .as_str()
            .unwrap_or_default()
            .contains("delete_record"),
        "prompt: {prompt}"
    );
    let focused = browser
        .js("return document.activeElement.className;", vec![])
        .await;
    assert_eq!(focused, "soc-approve", "the Approve button takes the focus");
    assert_eq!(tools.requests().len(), 0, "the tool ran before approval");
    browser.screenshot("prompt").await;
    browser
        .find(".soc-approve")
        .await
        .click()
        .await
        .expect("click Approve");
    assert_eq!(final_reply(&browser).await, "Record 42 is deleted.");
    let tool = browser
        .js(
            "const t = document.querySelector('.soc-tool'); \
             return [t.dataset.tool, t.querySelector('.soc-tool-state').textContent, \
                     t.querySelector('.soc-tool-result').textContent.includes('deleted'), \
                     document.querySelector('.soc-verdict').textContent];",
            vec![],
        )
        .await;
    assert_eq!(tool, json!(["delete_record", "done", true, "Approved."]));
    let problems = tools.check_expectations();
    assert!(problems.is_empty(), "tool endpoint: {problems:?}");
    assert_gateway(&gateway);
    browser.screenshot("done").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn stop_cancels_the_turn() {
    let tokens: Vec<String> = (1..=40).map(|i| format!("word{i} ")).collect();
    let mut reply = Reply::tokens(&tokens.iter().map(String::as_str).collect::<Vec<_>>());
    reply.token_delay_ms = 150;
    let gateway = MockGateway::start(vec![reply]).await;
    let server = start_with(config(&gateway)).await;
    let browser = Browser::start("stop").await;
    open(&browser, &page(&server)).await;
    ask(&browser, "Tell me a long story").await;
    browser
        .wait_for(
            "the first tokens",
            &format!("{REPLY_TEXT_FN} return t && t.length > 0;"),
        )
        .await;
    browser
        .find(".soc-stop")
        .await
        .click()
        .await
        .expect("click Stop");
    browser.wait_for("the turn to stop", REPLY_DONE).await;
    let state = browser
        .js(
            "const a = [...document.querySelectorAll('.soc-agent')].pop(); \
             return [a.querySelector('.soc-state').textContent, \
                     document.querySelector('.soc-stop').hidden, \
                     document.querySelector('.soc-input').disabled];",
            vec![],
        )
        .await;
    assert_eq!(state, json!(["Stopped.", true, false]));
    let text = browser.js(REPLY_TEXT, vec![]).await;
    let text = text.as_str().unwrap_or_default();
    let full = tokens.concat();
    assert!(
        full.starts_with(text) && text.len() < full.len(),
        "the stopped reply should be a strict prefix: {text:?}"
    );
    browser.screenshot("stopped").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

/// Declares `t`, the newest agent message's text.
const REPLY_TEXT_FN: &str = "const a = [...document.querySelectorAll('.soc-agent')].pop(); \
    const t = a ? [...a.querySelectorAll('.soc-body')].map(n => n.textContent).join('') : null;";

#[tokio::test]
async fn reload_shows_the_history() {
    let gateway = MockGateway::start(vec![Reply::tokens(&["Noted: ", "you like tea."])]).await;
    let server = start_with(config(&gateway)).await;
    let browser = Browser::start("reload").await;
    let session = open(&browser, &page(&server)).await;
    ask(&browser, "I like tea").await;
    assert_eq!(final_reply(&browser).await, "Noted: you like tea.");
    browser.client.refresh().await.expect("reload");
    let again = browser.wait_for("the page to reopen", READY).await;
    assert_eq!(again, json!(session), "the reloaded page keeps its session");
    let history = browser
        .wait_for(
            "the history",
            "const m = [...document.querySelectorAll('.soc-msg')].map(m => \
               [m.classList.contains('soc-user') ? 'user' : 'agent', \
                m.querySelector('.soc-body').textContent]); \
             return m.length === 2 && m;",
        )
        .await;
    assert_eq!(
        history,
        json!([["user", "I like tea"], ["agent", "Noted: you like tea."]])
    );
    browser.screenshot("reloaded").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reconnects_after_a_dropped_socket() {
    let gateway = MockGateway::start(vec![Reply::tokens(&["Back ", "online."])]).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(&gateway);
    config.storage = StorageKind::Sqlite;
    config.database_url = dir.path().join("chat.db").display().to_string();
    config.drain_secs = 1;
    let server = start_with(config.clone()).await;
    let addr = server.local_addr();
    let browser = Browser::start("reconnect").await;
    let session = open(&browser, &page(&server)).await;
    server.shutdown().await.unwrap();
    let status = browser
        .wait_for(
            "the page to say it is reconnecting",
            "const s = document.querySelector('.soc-status').textContent; \
             return /Reconnecting/.test(s) && s;",
        )
        .await;
    assert!(
        status.as_str().unwrap().contains("Reconnecting"),
        "{status}"
    );
    assert_eq!(
        browser
            .js(
                "return document.querySelector('.soc-input').disabled;",
                vec![]
            )
            .await,
        json!(true),
        "typing is off while disconnected"
    );
    browser.screenshot("disconnected").await;
    config.port = addr.port();
    config.bind = addr.ip();
    let server = smooth_operator::server::bind_and_start(config)
        .await
        .expect("the server restarts on the same port");
    let again = browser.wait_for("the page to reconnect", READY).await;
    assert_eq!(again, json!(session), "the same session after reconnecting");
    ask(&browser, "Are you there?").await;
    assert_eq!(final_reply(&browser).await, "Back online.");
    browser.screenshot("reconnected").await;
    // While the server was down the browser logged the refused WebSocket connections.
    browser
        .assert_no_console_errors(&["WebSocket connection to"])
        .await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn widget_works_embedded_on_another_origin() {
    let gateway = MockGateway::start(vec![Reply::tokens(&["Hi from ", "the widget."])]).await;
    let server = start_with(config(&gateway)).await;
    let origin = format!("http://{}", server.local_addr());
    // A host page on another origin whose CSS tries hard to break everything.
    let host_page = format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Host</title>\
         <link rel=icon href=data:,>\
         <style>* {{ color: red !important; font-size: 40px !important; }} \
         button, textarea {{ display: none !important; }} \
         .soc, .soc-input {{ visibility: hidden !important; }}</style>\
         <script type=module src=\"{origin}/widget.js\"></script></head>\
         <body><h1>Acme store</h1>\
         <smooth-agent-chat agent-id=\"6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11\" \
           server=\"ws://{}/ws\" open></smooth-agent-chat></body></html>",
        server.local_addr()
    );
    let host = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = host_page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host_addr = listener.local_addr().unwrap();
    let host_task = tokio::spawn(async move {
        let _ = axum::serve(listener, host).await;
    });
    assert_ne!(host_addr.port(), server.local_addr().port());

    let browser = Browser::start("widget").await;
    browser.goto(&format!("http://{host_addr}/")).await;
    let shadow = "const r = document.querySelector('smooth-agent-chat')?.shadowRoot;";
    let ready = format!(
        "{shadow} const c = r && r.querySelector('.soc'); const i = r && r.querySelector('.soc-input'); \
         return Boolean(c && c.dataset.sessionId && i && !i.disabled \
           && getComputedStyle(i).display !== 'none');"
    );
    browser
        .wait_for("the widget to open a session", &ready)
        .await;
    let styles = browser
        .js(
            &format!(
                "{shadow} const b = r.querySelector('.soc-send'); const i = r.querySelector('.soc-input'); \
                 return [getComputedStyle(b).display, getComputedStyle(i).visibility, \
                         getComputedStyle(b).color, getComputedStyle(i).fontSize];"
            ),
            vec![],
        )
        .await;
    assert_ne!(
        styles[0], "none",
        "host CSS hid the widget's button: {styles}"
    );
    assert_eq!(styles[1], "visible", "host CSS hid the input: {styles}");
    assert_ne!(
        styles[2], "rgb(255, 0, 0)",
        "host CSS recoloured the widget: {styles}"
    );
    assert_ne!(
        styles[3], "40px",
        "host CSS resized the widget's text: {styles}"
    );

    let element = browser.find("smooth-agent-chat").await;
    let root = element
        .shadow_root()
        .await
        .expect("the widget has a shadow root");
    let input = root
        .find(Locator::Css(".soc-input"))
        .await
        .expect("the widget's input");
    input.send_keys("Hello widget").await.expect("typing");
    root.find(Locator::Css(".soc-send"))
        .await
        .expect("the send button")
        .click()
        .await
        .expect("click Send");
    let reply = browser
        .wait_for(
            "the widget's reply",
            &format!(
                "{shadow} const a = [...r.querySelectorAll('.soc-agent')].pop(); \
                 return a && a.classList.contains('soc-done') && a.querySelector('.soc-body').textContent;"
            ),
        )
        .await;
    assert_eq!(reply, json!("Hi from the widget."));
    browser.screenshot("done").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    host_task.abort();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn model_markup_is_shown_as_text_and_runs_nothing() {
    let img = "<img src=x onerror=\"window.__pwned = 1\">";
    let script = "<script>window.__pwned = 2</script>";
    let reply = Reply::tokens(&[
        img,
        " and ",
        script,
        " and [click me](javascript:window.__pwned=3) ",
        "<a href=\"javascript:window.__pwned=4\">link</a>",
    ]);
    let gateway = MockGateway::start(vec![reply]).await;
    let server = start_with(config(&gateway)).await;
    let browser = Browser::start("markup").await;
    open(&browser, &page(&server)).await;
    ask(&browser, "Show me some HTML").await;
    let text = final_reply(&browser).await;
    assert!(
        text.contains(img),
        "the <img> markup is shown as text: {text:?}"
    );
    assert!(
        text.contains(script),
        "the <script> markup is shown as text: {text:?}"
    );
    let dom = browser
        .js(
            "const log = document.querySelector('.soc-log'); \
             return [log.querySelectorAll('img, script, iframe, object, embed').length, \
                     [...log.querySelectorAll('a')].map(a => a.getAttribute('href')), \
                     [...log.querySelectorAll('*')].some(e => [...e.attributes].some(at => at.name.startsWith('on'))), \
                     window.__pwned === undefined];",
            vec![],
        )
        .await;
    assert_eq!(
        dom,
        json!([0, [], false, true]),
        "model markup became live DOM: {dom}"
    );
    // Give a broken image's onerror a moment to fire, had it been created.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        browser
            .js("return window.__pwned === undefined;", vec![])
            .await,
        json!(true)
    );
    browser.screenshot("done").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_page_explains_a_missing_gateway() {
    let server = start_with(Config::for_tests()).await;
    let browser = Browser::start("no-gateway").await;
    browser.goto(&page(&server)).await;
    let notice = browser
        .wait_for(
            "the missing-gateway notice",
            "const n = document.querySelector('.soc-notice'); return n && !n.hidden && n.textContent;",
        )
        .await;
    let notice = notice.as_str().unwrap_or_default();
    assert!(
        notice.contains("SMOOAI_GATEWAY_URL=http://127.0.0.1:11434/v1"),
        "the notice names the setting with a local Ollama URL: {notice}"
    );
    browser
        .wait_for(
            "the session",
            "return Boolean(document.querySelector('.soc')?.dataset.sessionId);",
        )
        .await;
    let controls: Value = browser
        .js(
            "return [document.querySelector('.soc-input').disabled, \
                     document.querySelector('.soc-send').disabled, \
                     document.querySelectorAll('.soc-error').length];",
            vec![],
        )
        .await;
    assert_eq!(
        controls,
        json!([true, true, 0]),
        "no turn is attempted: {controls}"
    );
    browser.screenshot("notice").await;
    browser.assert_no_console_errors(&[]).await;
    browser.close().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_console_check_sees_errors() {
    // The harness's own check: what the page logs as an error reaches `console()`.
    let server = start_with(Config::for_tests()).await;
    let browser = Browser::start("console").await;
    browser.goto(&page(&server)).await;
    browser
        .js("console.error('probe from the test');", vec![])
        .await;
    let entries = browser.console().await;
    assert!(
        entries.iter().any(|e| e["level"] == "SEVERE"
            && e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("probe from the test")),
        "console.error did not reach the browser log: {entries:?}"
    );
    browser.screenshot("page").await;
    browser.close().await;
    server.shutdown().await.unwrap();
}
