//! A private Redis for tests: `redis-server` on a free 127.0.0.1 port, without persistence, in
//! a temporary directory. A small shell script owns the process and reads commands on its stdin
//! (`stop`, `start`); when the stdin closes — the [`RedisServer`] is dropped, or the test process
//! exits in any way — it stops Redis and removes the directory, so nothing outlives the tests.
//!
//! `redis-server` is looked up on `PATH` (Debian's `redis-server` package); without it the test
//! fails and says what to install.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::driver::Driver;

/// `$1` redis-server, `$2` the port, `$3` the directory (removed at the end).
const DRIVER: &str = r#"
bin="$1"; port="$2"; dir="$3"
up() {
  "$bin" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --protected-mode no \
    --dir "$dir" --logfile "$dir/redis.log" --daemonize no &
  pid=$!
  echo started
}
down() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; echo stopped; }
up
while read -r cmd; do
  case "$cmd" in
    stop) down ;;
    start) up ;;
  esac
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
rm -rf "$dir"
"#;

/// A running Redis owned by the test process.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    driver: Mutex<Driver>,
}

/// `redis-server` on `PATH`, or a failure saying what to install.
fn binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join("redis-server"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "the backplane tests need redis-server (not on PATH): install Debian's \
                 `redis-server` package (apt-get install -y redis-server)"
            )
        })
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local address").port()
}

impl RedisServer {
    /// Starts a new Redis of its own and waits until it answers.
    pub fn start() -> RedisServer {
        let bin = binary();
        let dir = tempfile::Builder::new()
            .prefix("smooth-agent-redis-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let port = free_port();
        let mut command = Command::new("sh");
        command
            .args(["-c", DRIVER, "driver"])
            .arg(&bin)
            .arg(port.to_string())
            .arg(&dir);
        let mut driver = Driver::spawn(command);
        assert_eq!(driver.answer(), "started");
        let server = RedisServer {
            port,
            dir,
            driver: Mutex::new(driver),
        };
        server.wait_answering();
        server
    }

    /// Waits until Redis answers `PING` on its port (fails after 20 s, with its log).
    fn wait_answering(&self) {
        let started = Instant::now();
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::Read;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                if stream.write_all(b"PING\r\n").is_ok() {
                    let mut reply = [0u8; 7];
                    if stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n" {
                        return;
                    }
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "redis-server did not answer on port {}; its log:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default()
    }

    /// Stops Redis (every connection is cut; nothing is kept).
    pub fn stop(&self) {
        assert_eq!(self.driver.lock().unwrap().command("stop"), "stopped");
    }

    /// Starts Redis again on the same port after [`RedisServer::stop`].
    pub fn start_again(&self) {
        assert_eq!(self.driver.lock().unwrap().command("start"), "started");
        self.wait_answering();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Ok(driver) = self.driver.get_mut() {
            driver.finish();
        }
    }
}
