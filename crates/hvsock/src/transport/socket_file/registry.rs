//! The socket files of this process's open listeners, kept where a signal-handling
//! thread can find them: a process that a signal ends runs no destructors.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::dir::{Dir, FileId};
use crate::error::show_path as shown;

/// A listener's socket file: the directory it is in (held open), its name there, the
/// path given (for messages) and its identity.
#[derive(Debug)]
pub(super) struct File {
    pub parent: Dir,
    pub name: OsString,
    pub path: PathBuf,
    pub id: FileId,
}

impl File {
    /// Removes the file if the name still refers to it (`fstatat` then `unlinkat`, with
    /// the directory locked against listeners of ours starting there).
    pub fn remove(&self) {
        let _lock = self.parent.lock(Duration::from_millis(100));
        let name: &OsStr = &self.name;
        match self.parent.stat_at(name) {
            Ok(Some(entry)) if entry.id == self.id => {
                if let Err(e) = self.parent.unlink_at(name) {
                    tracing::debug!("cannot remove {}: {e}", shown(&self.path));
                }
            }
            _ => tracing::debug!("{} is no longer our socket: left alone", shown(&self.path)),
        }
    }
}

static FILES: Mutex<BTreeMap<u64, File>> = Mutex::new(BTreeMap::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

fn files() -> MutexGuard<'static, BTreeMap<u64, File>> {
    FILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Keeps `file` until [`take`]n; returns its key.
pub(super) fn add(file: File) -> u64 {
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    files().insert(key, file);
    key
}

/// The file kept under `key`, if [`remove_all`] has not dealt with it already.
pub(super) fn take(key: u64) -> Option<File> {
    files().remove(&key)
}

/// Removes the socket file of every listener still open in this process; returns how
/// many were removed or found replaced. The listeners go on listening, unreachable.
pub(crate) fn remove_all() -> usize {
    let all = std::mem::take(&mut *files());
    for file in all.values() {
        file.remove();
    }
    all.len()
}
