//! The single SQLite writer.
//!
//! SQLite lets one connection write at a time; many writing connections only
//! queue on the file lock and fail with `SQLITE_BUSY` under load. So one
//! dedicated thread owns the read-write connection and runs, in order, the
//! closures sent to it over a channel; each caller awaits its answer on a
//! oneshot channel. A caller wanting several statements atomic opens a
//! transaction inside its closure. Order is FIFO.
//!
//! No group commit: running the pushes queued behind each other in one
//! transaction was measured (bench-ingest, 4 clients, 2026-11-22) at
//! 20.3k events/s against 22.1k without. Commits here do not fsync
//! (`synchronous=NORMAL`), so there is little to share, while every client
//! of a group waits for the whole group and the writer then idles while
//! they all prepare their next push.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::store::error::panic_message;
use crate::store::StoreError;

type Work = Box<dyn FnOnce(&mut Connection) + Send + 'static>;
/// The answer to one call: the closure's result, or the message of its panic.
type Answer<T, E> = oneshot::Receiver<Result<Result<T, E>, String>>;

enum Job {
    Run(Work),
    /// Run the closing pragmas and stop; answered when done.
    Stop(oneshot::Sender<()>),
}

/// How many closures may wait for the writer before senders wait in turn
/// (back-pressure instead of unbounded memory).
const QUEUE_DEPTH: usize = 1024;

/// A handle to the writer thread. Cheap to clone; the thread ends when the
/// store is closed or every handle is dropped.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer thread over an open read-write connection.
    pub fn spawn(mut conn: Connection) -> Result<Writer, StoreError> {
        let (tx, mut rx) = mpsc::channel::<Job>(QUEUE_DEPTH);
        thread::Builder::new()
            .name("shian-sqlite-writer".into())
            .spawn(move || {
                while let Some(job) = rx.blocking_recv() {
                    match job {
                        Job::Run(work) => {
                            work(&mut conn);
                            // A closure that panicked or returned inside a
                            // hand-opened BEGIN must not leave the next caller
                            // inside its transaction.
                            if !conn.is_autocommit() {
                                tracing::error!(
                                    "writer closure left a transaction open; rolling back"
                                );
                                if let Err(e) = conn.execute_batch("ROLLBACK") {
                                    tracing::error!(error = %e, "rollback failed");
                                }
                            }
                        }
                        Job::Stop(done) => {
                            rx.close();
                            if let Err(e) = conn
                                .execute_batch("PRAGMA optimize; PRAGMA wal_checkpoint(PASSIVE);")
                            {
                                tracing::warn!(error = %e, "closing pragmas failed");
                            }
                            let _ = done.send(());
                            break;
                        }
                    }
                }
                tracing::debug!("sqlite writer stopped");
            })?;
        Ok(Writer { tx })
    }

    fn wrap<T, E, F>(f: F) -> (Work, Answer<T, E>)
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let (otx, orx) = oneshot::channel();
        let work: Work = Box::new(move |conn: &mut Connection| {
            // A backstop: writes that change the ledger graph catch their
            // panics themselves, where the graph can still be restored
            // (`LedgerGraph::write`); this keeps the thread alive for the rest.
            let result =
                catch_unwind(AssertUnwindSafe(|| f(conn))).map_err(|p| panic_message(p.as_ref()));
            // The caller may have gone (request cancelled); the write stands.
            let _ = otx.send(result);
        });
        (work, orx)
    }

    fn unwrap_answer<T, E: From<StoreError>>(
        answer: Result<Result<Result<T, E>, String>, oneshot::error::RecvError>,
    ) -> Result<T, E> {
        match answer {
            Ok(Ok(result)) => result,
            Ok(Err(panic)) => Err(StoreError::Panicked(panic).into()),
            Err(_) => Err(StoreError::Closed.into()),
        }
    }

    /// Runs `f` on the write connection and returns its result. `f` runs on
    /// the writer thread: keep it to SQL (no awaits, no slow work), because
    /// every other write waits behind it.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (work, answer) = Self::wrap(f);
        self.tx
            .send(Job::Run(work))
            .await
            .map_err(|_| StoreError::Closed)?;
        Self::unwrap_answer(answer.await)
    }

    /// [`Writer::call`] for code outside the async runtime (the CLI, a
    /// blocking thread). Must not be called from an async task.
    pub fn call_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (work, answer) = Self::wrap(f);
        self.tx
            .blocking_send(Job::Run(work))
            .map_err(|_| StoreError::Closed)?;
        Self::unwrap_answer(answer.blocking_recv())
    }

    /// Lets queued writes finish, then stops the thread. Later calls get
    /// [`StoreError::Closed`].
    pub async fn close(&self) -> Result<(), StoreError> {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Stop(done)).await.is_err() {
            return Ok(()); // already stopped
        }
        let _ = wait.await;
        Ok(())
    }
}
