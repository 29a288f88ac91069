//! Failed accepts in a row, said once: a server at a limit (out of descriptors, say)
//! retries every [`super::ACCEPT_PAUSE`], and would otherwise log ten lines a second
//! for as long as the shortage lasts.

use std::io;

/// The failed accepts since the last one that worked.
#[derive(Debug, Default)]
pub struct AcceptFailures {
    /// The last failure's text, and how many times it came.
    last: Option<(String, u64)>,
}

impl AcceptFailures {
    /// A failed accept: what to log, if anything (a failure like the last one is only
    /// counted).
    pub fn failed(&mut self, err: &io::Error) -> Option<String> {
        let text = err.to_string();
        match &mut self.last {
            Some((last, times)) if *last == text => {
                *times += 1;
                None
            }
            _ => {
                let said = format!("{text} (retrying; said again when it changes or ends)");
                self.last = Some((text, 1));
                Some(said)
            }
        }
    }

    /// An accept that worked: what to log, if failures came before it.
    pub fn succeeded(&mut self) -> Option<String> {
        let (_, times) = self.last.take()?;
        Some(format!("accepting again after {times} failed accept{}", if times == 1 { "" } else { "s" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_failure_is_said_once_and_its_end_with_the_count() {
        let mut failures = AcceptFailures::default();
        assert_eq!(failures.succeeded(), None, "nothing failed");
        let emfile = io::Error::other("accept on unix:///s: Too many open files");
        let first = failures.failed(&emfile).unwrap();
        assert!(first.starts_with(&emfile.to_string()), "{first}");
        for _ in 0..99 {
            assert_eq!(failures.failed(&emfile), None);
        }
        let other = io::Error::other("accept on unix:///s: No buffer space available");
        assert!(failures.failed(&other).unwrap().starts_with(&other.to_string()), "a new failure is said");
        assert_eq!(failures.succeeded().unwrap(), "accepting again after 1 failed accept");
        assert_eq!(failures.succeeded(), None, "said once");
        failures.failed(&emfile);
        failures.failed(&emfile);
        assert_eq!(failures.succeeded().unwrap(), "accepting again after 2 failed accepts");
    }
}
