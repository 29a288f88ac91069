//! Waiting on the host: for a listener's socket to appear, for a file to
//! grow, for a condition.

use std::path::Path;
use std::time::Duration;

use crate::ensure;
use crate::util::{self, Result};

/// Waits (up to 30 s) for a host listener's socket to appear.
pub fn wait_for_path(path: &Path) -> Result<()> {
    let appeared = util::poll(Duration::from_secs(30), Duration::from_millis(10), || Ok(path.exists()))?;
    ensure!(appeared.is_some(), "{} did not appear within 30 s", path.display());
    // bind() creates the path just before listen(); give it a moment.
    std::thread::sleep(Duration::from_millis(50));
    Ok(())
}

/// Waits up to 60 s until host file `path` has `len` bytes.
pub fn wait_for_size(path: &Path, len: u64) -> Result<()> {
    let reached =
        util::poll(Duration::from_secs(60), Duration::from_millis(2), || Ok(file_size(path) >= len))?;
    ensure!(reached.is_some(), "{} never reached {len} bytes", path.display());
    Ok(())
}

/// Polls `cond` for up to 30 s.
pub fn wait_until(mut cond: impl FnMut() -> bool) -> Result<()> {
    let held = util::poll(Duration::from_secs(30), Duration::from_millis(10), || Ok(cond()))?;
    ensure!(held.is_some(), "timed out after 30 s");
    Ok(())
}

/// The size of host file `path`; 0 if it is not there (yet).
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
