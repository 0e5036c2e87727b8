//! Group commit for the writes every request makes (a new session, a message): one writer task
//! takes everything that is waiting, writes it in one transaction, and answers each caller only
//! after that commit. An acknowledgement still means "committed", while requests that arrive
//! together share one commit instead of paying one each.

use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::sessions::{write_message, write_session};
use crate::store::{NewMessage, NewSession, StoreError};

/// Most writes committed in one transaction.
const MAX_BATCH: usize = 128;

/// Writes waiting for the writer, at most (callers wait when it is full).
const QUEUE: usize = 1024;

/// One write; handed back to the caller once committed.
#[derive(Debug)]
pub(super) enum Write {
    /// A new session with its conversation and participants, created at `at`.
    Session {
        /// What to insert.
        new: Box<NewSession>,
        /// The creation timestamp, as stored.
        at: String,
    },
    /// A message, created at `at`.
    Message {
        /// What to insert.
        message: Box<NewMessage>,
        /// The creation timestamp, as stored.
        at: String,
    },
}

/// A write and where its outcome goes.
struct Pending {
    write: Write,
    done: oneshot::Sender<Result<Write, StoreError>>,
}

/// The handle to a store's writer task (cloned with the store; the task ends with the last one).
#[derive(Debug, Clone)]
pub(super) struct Writer {
    tx: mpsc::Sender<Pending>,
}

impl Writer {
    /// Starts the writer task for `pool` on the current Tokio runtime.
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, rx));
        Self { tx }
    }

    /// Writes `write` and returns it once its transaction has committed.
    pub(super) async fn write(&self, write: Write) -> Result<Write, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.tx
            .send(Pending { write, done })
            .await
            .map_err(|_| StoreError::Backend("the store's writer has stopped".into()))?;
        outcome
            .await
            .map_err(|_| StoreError::Backend("the store's writer stopped mid-write".into()))?
    }
}

async fn run(pool: SqlitePool, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            let writes: Vec<&Write> = batch.iter().map(|p| &p.write).collect();
            if commit(&pool, &writes).await.is_ok() {
                for pending in batch.drain(..) {
                    let _ = pending.done.send(Ok(pending.write));
                }
                continue;
            }
            // One bad write (a duplicate id, say) must not fail the others: each on its own.
        }
        for pending in batch.drain(..) {
            let outcome = commit(&pool, &[&pending.write]).await;
            let _ = pending.done.send(outcome.map(|()| pending.write));
        }
    }
}

/// Writes `writes` in one `BEGIN IMMEDIATE` transaction; all or nothing.
async fn commit(pool: &SqlitePool, writes: &[&Write]) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for write in writes {
        match write {
            Write::Session { new, at } => write_session(&mut tx, new, at).await?,
            Write::Message { message, at } => write_message(&mut tx, message, at).await?,
        }
    }
    tx.commit().await?;
    Ok(())
}
