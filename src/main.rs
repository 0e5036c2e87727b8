//! The server binary: parse settings, open storage, serve until SIGTERM or Ctrl-C, drain.

use clap::Parser;
use smooth_operator::config::{Command, Config};
use smooth_operator::{ingest, server};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: glibc keeps the memory of closed connections in
/// per-thread arenas, mimalloc gives freed pages back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc v3's `mi_option_purge_delay`: its index in `mi_option_t` (the bindings name no
/// constant for it) and its default, which tells us the index is still that option.
const PURGE_DELAY: (libmimalloc_sys::mi_option_t, std::ffi::c_long) = (15, 1000);

/// mimalloc v3's `mi_option_allow_thp`, index and default, checked the same way.
const ALLOW_THP: (libmimalloc_sys::mi_option_t, std::ffi::c_long) = (43, 1);

/// Sets a mimalloc option unless its environment variable is set or the index no longer holds
/// the option we mean (its default changed).
fn set_allocator_option(
    env: &str,
    (option, default): (libmimalloc_sys::mi_option_t, std::ffi::c_long),
    value: std::ffi::c_long,
) -> bool {
    // SAFETY: mimalloc's option calls take any option index and value, from any thread.
    unsafe {
        if std::env::var_os(env).is_none() && libmimalloc_sys::mi_option_get(option) == default {
            libmimalloc_sys::mi_option_set(option, value);
            return true;
        }
    }
    false
}

/// Makes the allocator give memory back: freed pages are returned to the system at once, not
/// a second (ten for its arenas) later, and the process uses no transparent huge pages, which
/// mimalloc would otherwise ask for on every arena: a 2 MiB page is resident as soon as one
/// byte of it is touched, which kept ~5 MiB more resident from the start (load benchmark:
/// anonymous RSS 11.5 -> 6.3 MiB on a fresh server, no CPU cost measured).
/// `MIMALLOC_PURGE_DELAY` and `MIMALLOC_ALLOW_THP` in the environment still win.
fn configure_allocator() {
    set_allocator_option("MIMALLOC_PURGE_DELAY", PURGE_DELAY, 0);
    if set_allocator_option("MIMALLOC_ALLOW_THP", ALLOW_THP, 0) {
        // mimalloc read the option when it started, before main; the kernel's per-process
        // switch also covers the arenas it has already mapped.
        // SAFETY: PR_SET_THP_DISABLE takes one integer flag and touches no memory of ours.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
}

/// When a runtime thread goes idle, hands the memory its tasks freed back to the allocator's
/// arenas (where the purge returns it to the system): mimalloc keeps a thread's emptied pages
/// for reuse until that thread allocates again, and an idle thread never does. Collecting
/// costs a walk of the thread's pages, so it runs only after a busy stretch (a burst of
/// closes or finished turns) or when the thread has not collected for a while: a ping-pong
/// load parks thousands of times a second but collects a few. What a short last stretch freed
/// soon after a collection waits for the thread's next park. Load benchmark, 2 000 idle
/// connections: anonymous RSS 6.3 -> 17.2 MiB held -> 8.7 MiB after they close (22 MiB,
/// nothing returned, without it; collecting at every park returned no more); ping and turn
/// CPU unchanged.
mod collect_when_idle {
    use std::cell::Cell;
    use std::time::{Duration, Instant};

    /// A thread that ran this long since it last woke collects when it parks.
    const BUSY: Duration = Duration::from_millis(1);
    /// A thread collects when it parks at least this long after its last collection.
    const EVERY: Duration = Duration::from_millis(250);

    thread_local! {
        static WOKE: Cell<Option<Instant>> = const { Cell::new(None) };
        static COLLECTED: Cell<Option<Instant>> = const { Cell::new(None) };
    }

    /// The runtime's `on_thread_unpark` hook: notes when the thread started working.
    pub fn unparked() {
        WOKE.with(|woke| woke.set(Some(Instant::now())));
    }

    /// The runtime's `on_thread_park` hook: collects if the thread was busy or is due.
    pub fn parking() {
        let now = Instant::now();
        let busy = WOKE.with(Cell::get).is_none_or(|woke| now - woke >= BUSY);
        let due = COLLECTED
            .with(Cell::get)
            .is_none_or(|last| now - last >= EVERY);
        if busy || due {
            // SAFETY: mi_collect only walks the calling thread's own heap.
            unsafe { libmimalloc_sys::mi_collect(false) };
            COLLECTED.with(|collected| collected.set(Some(now)));
        }
    }
}

fn main() -> anyhow::Result<()> {
    configure_allocator();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_unpark(collect_when_idle::unparked)
        .on_thread_park(collect_when_idle::parking)
        .build()?
        .block_on(serve())
}

/// Parses settings and runs the chosen command: ingest, or the server until a signal.
async fn serve() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let config = Config::parse();
    if let Some(Command::Ingest(args)) = &config.command {
        for line in ingest::run(&config, args).await? {
            println!("{line}");
        }
        return Ok(());
    }
    let handle = server::bind_and_start(config.clone()).await?;
    tracing::info!(
        url = %handle.ws_url(),
        storage = ?config.storage,
        "listening"
    );
    println!("smooth-operator-rs listening on {}", handle.ws_url());
    let token = handle.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; draining");
        token.cancel();
    });
    handle.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
