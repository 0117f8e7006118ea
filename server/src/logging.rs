//! Structured logs. `SHIAN_LOG` is the filter (tracing's env-filter syntax,
//! default `info`); `SHIAN_LOG_FORMAT=json` writes one JSON object a line
//! for log collectors, anything else human-readable text. Logs go to stderr
//! so stdout stays for the CLI's own output (demo logins, created users).

use tracing_subscriber::EnvFilter;

/// Targets that log a client's address, silenced at every level: axum's
/// `serve` writes "connection 127.0.0.2:port accepted" at TRACE, and no
/// client address may reach the logs (anonymous reports, issue 12; held by
/// `server/tests/reports_anonymity.rs`). Requests are logged by
/// `metrics::track` as method, route template and status only.
const NEVER_LOGGED: &[&str] = &["axum::serve=off"];

/// Installs the global subscriber; a second call does nothing.
pub fn init() {
    let mut filter =
        EnvFilter::try_from_env("SHIAN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    for d in NEVER_LOGGED {
        // The directives are constants that parse.
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    let json = std::env::var("SHIAN_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
