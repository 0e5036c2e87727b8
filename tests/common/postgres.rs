//! A private PostgreSQL for tests: `initdb` into a temporary directory, `pg_ctl start` on a free
//! 127.0.0.1 port (its unix socket in that directory, fsync off), one fresh database per test.
//!
//! The binaries are looked up on `PATH`, then under `/usr/lib/postgresql/*/bin`; without them
//! the test fails and says to install Debian's `postgresql` package. As root (CI), `initdb`
//! refuses to run, so the cluster runs as the `postgres` user that package creates.
//!
//! The cluster is driven by a small shell script reading commands on its stdin (`stop`,
//! `start`); when the stdin closes — the [`PgCluster`] is dropped, or the test process exits in
//! any way — the script stops the cluster and removes its directory, so nothing outlives the
//! tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::driver::Driver;
use sqlx::Connection;

/// The script that owns the cluster: `$1` the bin dir, `$2` the data dir, `$3` the log file,
/// `$4` the server options, `$5` the directory to remove at the end.
const DRIVER: &str = r#"
bin="$1"; data="$2"; log="$3"; opts="$4"; root="$5"
up() { "$bin/pg_ctl" -D "$data" -o "$opts" -l "$log" -w -t 120 start >/dev/null 2>&1 && echo started || echo failed; }
up
while read -r cmd; do
  case "$cmd" in
    stop) "$bin/pg_ctl" -D "$data" -m fast -w -t 120 stop >/dev/null 2>&1 && echo stopped || echo failed ;;
    start) up ;;
  esac
done
"$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1
rm -rf "$root"
"#;

/// A running PostgreSQL cluster owned by the test process.
pub struct PgCluster {
    port: u16,
    root: PathBuf,
    driver: Mutex<Driver>,
    databases: AtomicUsize,
}

/// The directory holding `initdb` and `pg_ctl`, or a failure saying what to install.
fn bin_dir() -> PathBuf {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // Debian links them from its versioned directory, where `postgres` lives too.
                let real = std::fs::canonicalize(dir.join("initdb")).expect("initdb resolves");
                return real.parent().expect("a bin dir").to_path_buf();
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.retain(|dir| has_both(dir));
    versions.sort_by_key(|dir| {
        let version = dir
            .parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str());
        version.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    versions.pop().unwrap_or_else(|| {
        panic!(
            "the Postgres tests need initdb and pg_ctl (not on PATH nor under \
             /usr/lib/postgresql/*/bin): install Debian's `postgresql` package \
             (apt-get install -y postgresql)"
        )
    })
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("command runs");
    assert!(out.status.success(), "{command:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the tests run as root (then the cluster runs as `postgres`).
fn running_as_root() -> bool {
    output(Command::new("id").arg("-u")) == "0"
}

/// `program args…`, as the `postgres` user when running as root.
fn as_cluster_user(root: bool, program: &str) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("local address").port()
}

impl PgCluster {
    /// The cluster every test of this binary shares (each gets its own databases).
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start)
    }

    /// Creates and starts a new cluster of its own (stopped and removed on drop).
    pub fn start() -> PgCluster {
        let bin = bin_dir();
        let root_user = running_as_root();
        let root = tempfile::Builder::new()
            .prefix("smooth-agent-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        if root_user {
            let uid: u32 = output(Command::new("id").args(["-u", "postgres"]))
                .parse()
                .expect("a uid");
            let gid: u32 = output(Command::new("id").args(["-g", "postgres"]))
                .parse()
                .expect("a gid");
            std::os::unix::fs::chown(&root, Some(uid), Some(gid))
                .expect("the cluster dir is given to postgres");
        }
        let data = root.join("data");
        let initdb = bin.join("initdb");
        let out = as_cluster_user(root_user, initdb.to_str().expect("utf-8 path"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ])
            .arg("--no-sync")
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 \
             -c shared_buffers=32MB",
            root.display()
        );
        let mut command = as_cluster_user(root_user, "sh");
        command
            .args(["-c", DRIVER, "driver"])
            .arg(&bin)
            .arg(&data)
            .arg(root.join("server.log"))
            .arg(options)
            .arg(&root);
        let mut driver = Driver::spawn(command);
        let answer = driver.answer();
        let cluster = PgCluster {
            port,
            root,
            driver: Mutex::new(driver),
            databases: AtomicUsize::new(0),
        };
        assert_eq!(
            answer,
            "started",
            "the test cluster did not start; its log:\n{}",
            cluster.log()
        );
        cluster
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
    }

    /// The URL of database `name`.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test cluster: {e}\n{}", self.log()));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await.ok();
        self.url(&name)
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let answer = self.driver.lock().unwrap().command("stop");
        assert_eq!(answer, "stopped", "pg_ctl stop failed:\n{}", self.log());
    }

    /// Starts the server again after [`PgCluster::stop`].
    pub fn start_again(&self) {
        let answer = self.driver.lock().unwrap().command("start");
        assert_eq!(answer, "started", "pg_ctl start failed:\n{}", self.log());
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Ok(driver) = self.driver.get_mut() {
            // EOF: the script stops the cluster and removes its directory.
            driver.finish();
        }
    }
}
