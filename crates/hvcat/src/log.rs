//! Messages on standard error, each starting with the tool's name: `hvcat: ...`.
//!
//! A subscriber of its own rather than `tracing-subscriber`'s: the tools log plain
//! messages and no spans, and setting that one up (its span registry allocated and
//! zeroed first) was a noticeable part of a client's start-up (docs/performance.md,
//! "Connect latency").

use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Shows warnings, and with `verbose` what happens too (from the tool and the library),
/// each line starting with `tool: `.
pub fn init(tool: &'static str, verbose: bool) {
    let level = if verbose { Level::INFO } else { Level::WARN };
    let _ = tracing::subscriber::set_global_default(Prefixed::new(tool, level, |line: &[u8]| {
        let _ = std::io::stderr().lock().write_all(line);
    }));
}

/// Writes each event at `max` or more severe as one line, `tool: message field=value...`,
/// in one call to `out`; spans are ignored.
struct Prefixed<F> {
    tool: &'static str,
    max: Level,
    out: F,
}

impl<F: Fn(&[u8]) + Send + Sync + 'static> Prefixed<F> {
    fn new(tool: &'static str, max: Level, out: F) -> Self {
        Prefixed { tool, max, out }
    }
}

impl<F: Fn(&[u8]) + Send + Sync + 'static> Subscriber for Prefixed<F> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_event() && *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::from_level(self.max))
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1) // never enabled, so never asked for; an id is required
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("{}: ", self.tool), false);
        event.record(&mut line);
        line.0.push('\n');
        (self.out)(line.0.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// An event's fields as `tracing-subscriber` writes them: the message first, then
/// ` name=value` for each other field (`.1`: a field has been written).
struct Line(String, bool);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.1 {
            self.0.push(' ');
        }
        self.1 = true;
        let _ = match field.name() {
            "message" => write!(self.0, "{value:?}"),
            name => write!(self.0, "{}={value:?}", name.strip_prefix("r#").unwrap_or(name)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn captured(max: Level, emit: impl FnOnce()) -> String {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let subscriber = Prefixed::new("hvtest", max, move |line: &[u8]| {
            sink.lock().unwrap().extend_from_slice(line);
        });
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = lines.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn prefixes_each_message_and_filters_by_level() {
        let text = captured(Level::WARN, || {
            tracing::info!("hidden");
            tracing::warn!("kept {}", 1);
            tracing::error!("also kept");
            tracing::debug!("hidden too");
        });
        assert_eq!(text, "hvtest: kept 1\nhvtest: also kept\n");
        let verbose = captured(Level::INFO, || {
            tracing::info!("listening on {}", "unix:///s");
            tracing::debug!("hidden");
        });
        assert_eq!(verbose, "hvtest: listening on unix:///s\n");
    }

    #[test]
    fn writes_other_fields_after_the_message() {
        let text = captured(Level::INFO, || {
            let r#type = 3;
            tracing::warn!(peer = "vsock://4:5", r#type, "closed {}", "early");
            tracing::warn!(count = 2);
        });
        assert_eq!(text, "hvtest: closed early peer=\"vsock://4:5\" type=3\nhvtest: count=2\n");
        let spans = captured(Level::INFO, || {
            let span = tracing::info_span!("connecting");
            let _in = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(spans, "hvtest: inside\n");
    }
}
