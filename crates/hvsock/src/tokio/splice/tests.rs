//! The splice pump's own workings: the pipe pool, the fallback when no pipe can be made.

use std::sync::atomic::AtomicUsize;

/// Bursts that found no pipe and were copied instead.
pub(super) static FALLBACKS: AtomicUsize = AtomicUsize::new(0);
