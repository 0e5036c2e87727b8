//! Group commit for the writes every request makes (a new session, a message): one writer task
//! takes everything that is waiting, writes it in one transaction, and answers each caller only
//! after that commit. An acknowledgement still means "committed", while requests that arrive
//! together share one commit instead of paying one each.
//!
//! The batch is written synchronously on a blocking thread, straight through the SQLite handle
//! of a pooled connection (borrowed from sqlx's worker with `lock_handle`, wrapped by rusqlite
//! with its statement cache). Through sqlx every statement of a batch would be a round trip to
//! the connection's worker thread; here a batch costs one hand-off, whatever its size.

use rusqlite::TransactionBehavior;
use sqlx::sqlite::{SqliteConnection, SqlitePool};
use sqlx::Connection;
use tokio::sync::{mpsc, oneshot};

use super::sessions::{write_message, write_resumed, write_session};
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
    /// A new session in an existing conversation, created at `at`.
    Resumed {
        /// What to insert (a `Some` `supports` replaces the conversation's).
        new: Box<NewSession>,
        /// The creation timestamp, as stored.
        at: String,
        /// Filled in by the writer: the conversation's capabilities after the write, as stored.
        supports: Option<String>,
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
    /// Starts the writer task on the current Tokio runtime. It writes on `own` when given (a
    /// connection of its own keeps its page cache warm from batch to batch), else on whichever
    /// of `pool`'s connections is free (an in-memory database has only the one).
    pub(super) fn start(pool: SqlitePool, own: Option<SqliteConnection>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, own, rx));
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

async fn run(pool: SqlitePool, mut own: Option<SqliteConnection>, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if pool.is_closed() {
            // A closed store writes nothing more, on the writer's own connection either (which
            // closes now, so the last connection to the file checkpoints its WAL).
            if let Some(conn) = own.take() {
                let _ = conn.close().await;
            }
            fail(batch, &StoreError::Backend("the store is closed".into()));
            continue;
        }
        // SQLite works synchronously, and may wait out another connection's write lock: keep
        // that off the async workers. A panic there drops the batch's senders, so each caller
        // gets an error instead of waiting forever, and the next batch carries on (on a fresh
        // connection from the pool).
        if let Some(mut conn) = own.take() {
            let written = tokio::task::spawn_blocking(move || {
                write_batch(&mut conn, batch);
                conn
            });
            own = written.await.ok();
            continue;
        }
        match pool.acquire().await {
            Ok(mut conn) => {
                let _ = tokio::task::spawn_blocking(move || write_batch(&mut conn, batch)).await;
            }
            Err(e) => fail(batch, &StoreError::from(e)),
        }
    }
}

/// Answers every write of `batch` with `error`.
fn fail(batch: Vec<Pending>, error: &StoreError) {
    for pending in batch {
        let _ = pending
            .done
            .send(Err(StoreError::Backend(error.to_string())));
    }
}

/// Writes `batch` on `conn`'s SQLite handle and answers each caller (on a blocking thread).
fn write_batch(conn: &mut SqliteConnection, mut batch: Vec<Pending>) {
    let mut locked = match tokio::runtime::Handle::current().block_on(conn.lock_handle()) {
        Ok(locked) => locked,
        Err(e) => return fail(batch, &StoreError::from(e)),
    };
    // SAFETY: `lock_handle` keeps sqlx's worker away from this handle while `locked` lives; the
    // wrapper never closes the handle and is declared after `locked`, so it is dropped first.
    let db = unsafe { rusqlite::Connection::from_handle(locked.as_raw_handle().as_ptr()) };
    let mut db = match db {
        Ok(db) => db,
        Err(e) => return fail(batch, &backend(e)),
    };
    if batch.len() > 1 {
        let all = commit(&mut db, batch.iter_mut().map(|p| &mut p.write));
        if all.is_ok() {
            for pending in batch {
                let _ = pending.done.send(Ok(pending.write));
            }
            return;
        }
        // One bad write (a duplicate id, say) must not fail the others: each on its own.
    }
    for mut pending in batch {
        let outcome = commit(&mut db, std::iter::once(&mut pending.write));
        let _ = pending.done.send(outcome.map(|()| pending.write));
    }
}

/// Writes `writes` in one `BEGIN IMMEDIATE` transaction; all or nothing (a failed one is
/// rolled back when its transaction is dropped).
fn commit<'a>(
    db: &mut rusqlite::Connection,
    writes: impl Iterator<Item = &'a mut Write>,
) -> Result<(), StoreError> {
    let tx = db
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    for write in writes {
        match write {
            Write::Session { new, at } => write_session(&tx, new, at),
            Write::Resumed { new, at, supports } => {
                write_resumed(&tx, new, at).map(|stored| *supports = stored)
            }
            Write::Message { message, at } => write_message(&tx, message, at),
        }
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

/// A rusqlite failure as the store's (the detail is for logs only).
fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use crate::protocol::MessageDirection;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{NewMessage, NewSession, PageRequest, Store};

    fn session() -> NewSession {
        NewSession {
            session_id: Uuid::new_v4(),
            conversation_id: Uuid::new_v4(),
            user_participant_id: Uuid::new_v4(),
            agent_participant_id: Uuid::new_v4(),
            agent_id: "agent".into(),
            agent_name: "Agent".into(),
            organization_id: Some("org".into()),
            owner_id: None,
            owner_org: None,
            verified_user_id: None,
            user_name: "User".into(),
            user_email: None,
            browser_fingerprint: None,
            metadata: serde_json::Map::new(),
            supports: None,
        }
    }

    fn message(conversation_id: Uuid, text: &str) -> NewMessage {
        NewMessage {
            id: Uuid::new_v4(),
            conversation_id,
            organization_id: Some("org".into()),
            direction: MessageDirection::Inbound,
            text: Some(text.into()),
            structured_response: None,
            from_participant_id: None,
            to_participant_id: None,
        }
    }

    /// The database file's name inside the test's directory.
    const FILE: &str = "store.db";

    /// A file store in a fresh directory (kept alive by the returned guard).
    async fn file_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let store = SqliteStore::open_file(path.to_str().unwrap())
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_a_bad_one_fails_alone() {
        let (dir, store) = file_store().await;
        let path = dir.path().join(FILE);
        let conversation = store
            .create_session(session())
            .await
            .unwrap()
            .conversation_id;
        // 200 writes at once: more than one batch, with one that breaks a foreign key (its
        // conversation does not exist) in the middle of them.
        let mut writes = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            let target = if i == 77 {
                Uuid::new_v4()
            } else {
                conversation
            };
            writes.push(tokio::spawn(async move {
                store
                    .append_message(message(target, &format!("m{i}")))
                    .await
            }));
        }
        let mut failed = Vec::new();
        for (i, write) in writes.into_iter().enumerate() {
            if write.await.unwrap().is_err() {
                failed.push(i);
            }
        }
        assert_eq!(failed, vec![77], "only the bad write fails");
        let page = PageRequest {
            limit: 500,
            ..PageRequest::default()
        };
        let stored = store.list_messages(conversation, page).await.unwrap();
        assert_eq!(
            stored.messages.len(),
            199,
            "every other write was committed"
        );
        store.close().await;
        drop(store);

        // What was acknowledged is in the file: a second store on it reads it all.
        let reopened = SqliteStore::open_file(path.to_str().unwrap())
            .await
            .unwrap();
        let page = PageRequest {
            limit: 500,
            ..PageRequest::default()
        };
        let again = reopened.list_messages(conversation, page).await.unwrap();
        assert_eq!(again.messages.len(), 199);
    }

    #[tokio::test]
    async fn a_closed_file_store_writes_nothing_more() {
        let (dir, store) = file_store().await;
        let path = dir.path().join(FILE);
        let first = store.create_session(session()).await.unwrap();
        store.close().await;
        let late = session();
        let late_id = late.session_id;
        assert!(store.create_session(late).await.is_err());
        assert!(store
            .append_message(message(first.conversation_id, "late"))
            .await
            .is_err());
        drop(store);
        let reopened = SqliteStore::open_file(path.to_str().unwrap())
            .await
            .unwrap();
        assert!(reopened
            .get_session(first.session_id)
            .await
            .unwrap()
            .is_some());
        assert!(reopened.get_session(late_id).await.unwrap().is_none());
        let recent = reopened
            .recent_messages(first.conversation_id, 10)
            .await
            .unwrap();
        assert!(recent.is_empty(), "nothing was written after close");
    }

    #[tokio::test]
    async fn the_in_memory_store_writes_on_its_only_connection() {
        // A current-thread runtime, as most tests use: the blocking hand-off must still work.
        let store = SqliteStore::open_memory().await.unwrap();
        let first = store.create_session(session()).await.unwrap();
        let mut again = session();
        again.conversation_id = first.conversation_id;
        again.user_participant_id = first.user_participant_id;
        again.agent_participant_id = first.agent_participant_id;
        again.supports = Some(vec!["choice_chips".into()]);
        let resumed = store.resume_session(again).await.unwrap();
        assert_eq!(resumed.supports, vec!["choice_chips".to_string()]);
        let latest = store.latest_session(first.conversation_id).await.unwrap();
        assert_eq!(latest.unwrap().session_id, resumed.session_id);
        store
            .append_message(message(first.conversation_id, "hello"))
            .await
            .unwrap();
        let recent = store
            .recent_messages(first.conversation_id, 10)
            .await
            .unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].content.text.as_deref(), Some("hello"));
    }
}
