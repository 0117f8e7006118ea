//! A small pool of read-only SQLite connections.
//!
//! In WAL mode readers never block the writer nor each other, so reads go to
//! their own connections, a few at a time (the machine has few cores; more
//! connections than cores only adds memory). A read runs on tokio's blocking
//! pool so a slow query never stalls the async workers.

use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::error::panic_message;
use crate::store::StoreError;

struct Shared {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Shared {
    /// The idle list survives a panic elsewhere: a poisoned lock still holds
    /// valid connections.
    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Read-only connections. Cheap to clone.
#[derive(Clone)]
pub struct Readers {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("available", &self.shared.permits.available_permits())
            .finish()
    }
}

/// A connection on loan; goes back to the pool when dropped, even when the
/// closure using it panicked.
struct Lease {
    conn: Option<Connection>,
    shared: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.idle().push(conn);
        }
    }
}

impl Readers {
    pub fn new(conns: Vec<Connection>) -> Readers {
        let permits = Arc::new(Semaphore::new(conns.len()));
        Readers {
            shared: Arc::new(Shared {
                idle: Mutex::new(conns),
                permits,
            }),
        }
    }

    async fn lease(&self) -> Result<Lease, StoreError> {
        let permit = self
            .shared
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Closed)?;
        let conn = self.shared.idle().pop().ok_or(StoreError::Closed)?;
        Ok(Lease {
            conn: Some(conn),
            shared: self.shared.clone(),
            _permit: permit,
        })
    }

    /// Runs `f` on a read-only connection (queries only; a write fails with
    /// `SQLITE_READONLY`).
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let lease = self.lease().await?;
        let joined = tokio::task::spawn_blocking(move || {
            let lease = lease;
            match &lease.conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Closed.into()),
            }
        })
        .await;
        match joined {
            Ok(result) => result,
            Err(e) if e.is_panic() => {
                Err(StoreError::Panicked(panic_message(e.into_panic().as_ref())).into())
            }
            Err(_) => Err(StoreError::Closed.into()),
        }
    }

    /// [`Readers::call`] for code outside the async runtime.
    pub fn call_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E>,
        E: From<StoreError>,
    {
        let permit = self
            .shared
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| StoreError::Busy)?;
        let conn = self.shared.idle().pop().ok_or(StoreError::Closed)?;
        let lease = Lease {
            conn: Some(conn),
            shared: self.shared.clone(),
            _permit: permit,
        };
        match &lease.conn {
            Some(conn) => f(conn),
            None => Err(StoreError::Closed.into()),
        }
    }

    /// Closes the pool: waiting and later reads get [`StoreError::Closed`].
    pub fn close(&self) {
        self.shared.permits.close();
    }
}
