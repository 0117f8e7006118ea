//! Structured logs. `SHIAN_LOG` is the filter (tracing's env-filter syntax,
//! default `info`); `SHIAN_LOG_FORMAT=json` writes one JSON object a line
//! for log collectors, anything else human-readable text. Logs go to stderr
//! so stdout stays for the CLI's own output (demo logins, created users).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_env("SHIAN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
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
