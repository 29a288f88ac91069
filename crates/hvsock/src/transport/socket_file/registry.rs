//! The socket files of this process's open listeners, kept where a signal-handling
//! thread can find them: a process that a signal ends runs no destructors.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io;
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

/// The files kept, and whether [`remove_all`] has run (after which none is put in place).
struct Registry {
    files: BTreeMap<u64, File>,
    closed: bool,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry { files: BTreeMap::new(), closed: false });
static NEXT: AtomicU64 = AtomicU64::new(0);

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Puts `file` in place with `link` and keeps it until [`take`]n, both under the
/// registry's lock: a signal-handling thread in [`remove_all`] finds either no file yet
/// (and none is linked after it) or one it can remove. Returns the file's key.
pub(super) fn add_linked(file: File, link: impl FnOnce(&File) -> io::Result<()>) -> io::Result<u64> {
    let mut registry = registry();
    if registry.closed {
        return Err(io::Error::other("this process's listener files were removed (it is ending)"));
    }
    link(&file)?;
    let key = NEXT.fetch_add(1, Ordering::Relaxed);
    registry.files.insert(key, file);
    Ok(key)
}

/// The file kept under `key`, if [`remove_all`] has not dealt with it already.
pub(super) fn take(key: u64) -> Option<File> {
    registry().files.remove(&key)
}

/// Removes the socket file of every listener still open in this process; returns how
/// many were removed or found replaced. The listeners go on listening, unreachable, and
/// listeners started later fail: this is for a process that is ending.
pub(crate) fn remove_all() -> usize {
    let mut registry = registry();
    registry.closed = true;
    let all = std::mem::take(&mut registry.files);
    for file in all.values() {
        file.remove();
    }
    all.len()
}
