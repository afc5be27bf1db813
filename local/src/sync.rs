//! Locking that survives a panic elsewhere: the local stack's shared maps (authorizer cache,
//! throttle buckets, executions) stay usable after a task that held the lock panicked.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, taking the data even if a panicking holder poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
