//! The `ingest` subcommand: loads files or folders into the knowledge base of the configured
//! database and prints what happened to each document.

use std::sync::Arc;

use anyhow::{bail, Context};

use crate::config::{Config, IngestArgs, StorageKind};
use crate::knowledge::{files, Knowledge, Origin, Outcome};
use crate::store::acl::Acl;

/// Runs `ingest`; returns the lines to print.
pub async fn run(config: &Config, args: &IngestArgs) -> anyhow::Result<Vec<String>> {
    let config = &config.clone().normalized();
    if config.storage == StorageKind::Memory {
        bail!(
            "ingest needs durable storage: with SMOOTH_AGENT_STORAGE=memory the documents would \
             be lost when this command exits (use sqlite or postgres and SMOOTH_AGENT_DATABASE_URL)"
        );
    }
    let acl = match &args.acl {
        None => None,
        Some(text) => Some(Acl::parse(text).map_err(anyhow::Error::msg)?),
    };
    for path in &args.paths {
        if !path.exists() {
            bail!("{} does not exist", path.display());
        }
    }
    let store = crate::store::open(config).await?;
    let knowledge = Knowledge::from_config(&config.agent, Arc::clone(&store))?;
    let mut lines = Vec::new();
    let mut totals = [0usize; 3];
    for path in &args.paths {
        let report = files::ingest_path(&knowledge, path, Origin::Cli, acl.clone(), false)
            .await
            .with_context(|| format!("cannot ingest {}", path.display()))?;
        for (outcome, source) in &report.documents {
            lines.push(format!("{} {source}", outcome.as_str()));
            totals[match outcome {
                Outcome::Created => 0,
                Outcome::Updated => 1,
                Outcome::Unchanged => 2,
            }] += 1;
        }
        for (path, reason) in &report.skipped {
            lines.push(format!("skipped {} ({reason})", path.display()));
        }
    }
    lines.push(format!(
        "{} created, {} updated, {} unchanged",
        totals[0], totals[1], totals[2]
    ));
    Ok(lines)
}
