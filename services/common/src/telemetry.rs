//! Logging: JSON lines in production, readable text on a terminal.

use std::io::IsTerminal;

use serde::Deserialize;
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON unless standard error is a terminal.
    #[default]
    Auto,
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Text,
}

/// Installs the global subscriber. The level comes from `RUST_LOG` (default `info`).
/// Calling it twice (as tests do) keeps the first subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry.with(json_layer(std::io::stderr)).try_init()
    } else {
        registry.with(fmt::layer().compact().with_writer(std::io::stderr)).try_init()
    };
    drop(result);
}

/// JSON lines: each event flattened, with the fields of the span it happened in.
fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    fmt::layer().json().flatten_event(true).with_current_span(true).with_span_list(false).with_writer(writer)
}

/// The log lines (JSON, as in production, every level) written on this thread while it lives,
/// for tests of what is logged and what never is.
#[cfg(any(test, feature = "test-util"))]
pub struct CapturedLogs {
    lines: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[cfg(any(test, feature = "test-util"))]
impl CapturedLogs {
    /// Starts capturing. On a current-thread runtime (`#[tokio::test]`'s default) that includes
    /// the tasks it runs, servers in the test included.
    pub fn start() -> Self {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = {
            let lines = lines.clone();
            move || Appender(lines.clone())
        };
        let subscriber = tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::TRACE).with(json_layer(writer));
        Self { lines, _guard: tracing::subscriber::set_default(subscriber) }
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
    }
}

/// Appends to the shared buffer.
#[cfg(any(test, feature = "test-util"))]
struct Appender(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

#[cfg(any(test, feature = "test-util"))]
impl std::io::Write for Appender {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
