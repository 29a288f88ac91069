//! A progress line on standard error for runs longer than a few seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Shows `label: done/total` on standard error, at most a few times a second, starting
/// only once the run has taken two seconds; rewrites one line on a terminal.
pub struct Progress {
    label: String,
    total: u64,
    started: Instant,
    last: Option<Instant>,
    terminal: bool,
    enabled: bool,
}

impl Progress {
    /// A progress line for `total` steps.
    pub fn new(label: impl Into<String>, total: u64, enabled: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        Progress { label: label.into(), total, started: Instant::now(), last: None, terminal, enabled }
    }

    /// Reports `done` steps (and an optional note).
    pub fn update(&mut self, done: u64, note: &str) {
        let now = Instant::now();
        let quiet_start = now.duration_since(self.started) < Duration::from_secs(2);
        let too_soon = self.last.is_some_and(|t| {
            now.duration_since(t) < Duration::from_millis(if self.terminal { 200 } else { 5000 })
        });
        if !self.enabled || quiet_start || too_soon {
            return;
        }
        self.last = Some(now);
        let line = format!(
            "{}: {done}/{} {note} ({:.0} s)",
            self.label,
            self.total,
            now.duration_since(self.started).as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        let _ = if self.terminal { write!(err, "\r\x1b[K{line}") } else { writeln!(err, "{line}") };
    }

    /// Clears the line (on a terminal) once the run is over.
    pub fn finish(&mut self) {
        if self.enabled && self.terminal && self.last.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
