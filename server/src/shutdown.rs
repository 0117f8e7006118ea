//! Waiting for the signal to stop: ctrl-c, or SIGTERM (what systemd, Docker
//! and Kubernetes send). Then in-flight requests finish, the writer drains
//! its queue and the process exits cleanly.
//!
//! The handlers are installed when [`signal`] is *called*, not when its
//! future is first polled: `serve` prints "listening" before the server's
//! future runs, and a SIGTERM sent as soon as that line appeared used to
//! meet the default action and kill the process mid-start (seen once in CI:
//! the demo test's server exited by signal 15 instead of cleanly).

use std::future::Future;

/// Installs the ctrl-c and SIGTERM handlers now; the future resolves on
/// the first of them, including one that arrived before it was polled.
pub fn signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let streams = {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &'static str| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for {name}");
                None
            }
        };
        (
            listen(SignalKind::interrupt(), "ctrl-c"),
            listen(SignalKind::terminate(), "SIGTERM"),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (int, term) = streams;
            tokio::select! {
                () = received(int) => tracing::info!("ctrl-c received, shutting down"),
                () = received(term) => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot listen for ctrl-c");
                std::future::pending::<()>().await;
            }
            tracing::info!("ctrl-c received, shutting down");
        }
    }
}

/// Resolves when `signal` is received; never when it could not be listened
/// for.
#[cfg(unix)]
async fn received(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(all(test, unix))]
mod tests {
    /// A SIGTERM that arrives after `signal()` is called but before its
    /// future is polled is kept, not met by the default action (which
    /// would end this test binary).
    #[tokio::test]
    async fn a_sigterm_before_the_first_poll_is_not_lost() {
        let stop = super::signal();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        tokio::time::timeout(std::time::Duration::from_secs(10), stop)
            .await
            .expect("the SIGTERM sent before the first poll resolves the wait");
    }
}
