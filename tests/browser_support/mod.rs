//! A real headless Chromium for the browser tests, driven through WebDriver (fantoccini) by a
//! chromedriver this harness starts itself on a free 127.0.0.1 port.
//!
//! Only Debian's binaries are used, named explicitly (`/usr/bin/chromium`, `/usr/bin/chromedriver`;
//! nothing downloads a browser or a driver), and the browser can reach loopback only: every host
//! name fails to resolve and everything else goes to a dead proxy (Chromium never proxies
//! loopback). Console output is read through chromedriver's browser log
//! (`goog:loggingPrefs`), which also records uncaught exceptions, failed loads and CSP
//! violations.

use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// The browser binary of Debian's `chromium` package.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The driver binary of Debian's `chromium-driver` package.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a wait for the page may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

/// A chromedriver process with one browser session; both end when this is dropped.
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
    /// The test's temp dir: the browser profile, the driver log and the screenshots.
    pub dir: PathBuf,
    name: String,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // The screenshots and the driver log stay; the browser profile goes.
        let _ = std::fs::remove_dir_all(self.dir.join("profile"));
    }
}

/// Fails the test with the Debian package to install when a binary is missing.
fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's `{package}` package (apt-get install -y chromium \
         chromium-driver); the browser tests use only that browser and driver"
    );
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium for the test `name`; its temp dir is kept
    /// (and printed) so the screenshots can be looked at after the run.
    pub async fn start(name: &str) -> Browser {
        require(CHROMIUM, "chromium");
        require(CHROMEDRIVER, "chromium-driver");
        let dir = tempfile::Builder::new()
            .prefix(&format!("browser-{name}-"))
            .tempdir()
            .expect("temp dir")
            .keep();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!(
                "--log-path={}",
                dir.join("chromedriver.log").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = dir.join("profile");
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--no-default-browser-check".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            "--disable-extensions".to_string(),
            "--disable-default-apps".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-features=Translate,OptimizationHints,MediaRouter".to_string(),
            "--window-size=1200,900".to_string(),
            // Loopback only: no name resolves, and anything not on loopback meets a dead proxy.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_string(),
            "--proxy-server=http://127.0.0.1:9".to_string(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let capabilities = capabilities.as_object().cloned().expect("an object");
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open a Chromium session through chromedriver: {e}"));
        Browser {
            client,
            driver,
            dir,
            name: name.to_string(),
        }
    }

    /// Opens `url` and waits for the document to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its result.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` every 50 ms until it returns something truthy (returned), or fails the
    /// test saying `what` did not happen.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.js(script, vec![]).await;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                self.screenshot("timeout").await;
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; last value {value}; screenshot \
                     in {}",
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Finds one element by CSS selector in the page (not inside shadow roots).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element matches {css}: {e}"))
    }

    /// Saves a PNG of the viewport as `<dir>/<name>-<label>.png` and returns its path.
    pub async fn screenshot(&self, label: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let path = self.dir.join(format!("{}-{label}.png", self.name));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Every browser log entry so far (console messages, exceptions, failed loads), each
    /// `{level, message, source, timestamp}`; reading empties the log.
    pub async fn console(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            Ok(other) => panic!("unexpected browser log answer: {other}"),
            Err(e) => panic!("cannot read the browser log: {e}"),
        }
    }

    /// Fails when the browser logged an error (level SEVERE), except messages containing one of
    /// `allowed`.
    pub async fn assert_no_console_errors(&self, allowed: &[&str]) {
        let errors: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .filter(|e| {
                let message = e["message"].as_str().unwrap_or_default();
                !allowed.iter().any(|a| message.contains(a))
            })
            .collect();
        assert!(errors.is_empty(), "the browser logged errors: {errors:#?}");
    }

    /// Ends the WebDriver session (the driver is killed on drop).
    pub async fn close(self) {
        let client = self.client.clone();
        let _ = client.close().await;
    }
}

/// chromedriver's `POST /session/{id}/se/log` for the `browser` log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}
