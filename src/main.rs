//! The server binary: parse settings, open storage, serve until SIGTERM or Ctrl-C, drain.

use clap::Parser;
use smooth_operator::config::{Command, Config};
use smooth_operator::{ingest, server};
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: glibc keeps the memory of closed connections in
/// per-thread arenas, mimalloc gives freed pages back to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
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
