//! The instances of one function: idle ones ready for reuse, and a FIFO queue for invocations
//! that find the function at its concurrency limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::FunctionConfig;
use crate::instance::{ExitHandle, Instance};
use crate::process::lock;

/// A snapshot of a function's instances.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Instances whose process is running.
    pub total: usize,
    /// Invocations holding an instance (or starting one).
    pub busy: usize,
    /// Warm instances waiting for work.
    pub idle: usize,
    /// Invocations queued because the function is at its limit.
    pub waiting: usize,
    /// Instances started since the beginning.
    pub started: u64,
}

pub(crate) struct Pool {
    pub(crate) config: Arc<FunctionConfig>,
    /// One permit per instance the function may run; tokio's semaphore serves waiters in order.
    permits: Arc<Semaphore>,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    /// Most recently used last, so the warmest instance is reused first.
    idle: Vec<Instance>,
    /// Every instance started and not yet known to have exited, for shutdown and stats.
    live: HashMap<u64, ExitHandle>,
    busy: usize,
    waiting: usize,
    started: u64,
    /// Set by [`Pool::close`]; no instance is registered or kept after it.
    closed: bool,
}

impl Pool {
    pub(crate) fn new(config: FunctionConfig) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_instances.max(1)));
        Self {
            config: Arc::new(config),
            permits,
            state: Mutex::default(),
        }
    }

    /// Waits for the right to use an instance; `None` once the pool is closed.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Option<Busy> {
        let waiting = Waiting::enter(self);
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        drop(waiting);
        lock(&self.state).busy += 1;
        Some(Busy {
            pool: Arc::clone(self),
            _permit: permit,
        })
    }

    /// The most recently used idle instance whose process is still running.
    pub(crate) fn take_idle(&self) -> Option<Instance> {
        let mut dead = Vec::new();
        let found = {
            let mut state = lock(&self.state);
            loop {
                match state.idle.pop() {
                    Some(instance) if instance.has_exited() => dead.push(instance),
                    other => break other,
                }
            }
        };
        drop(dead);
        found
    }

    /// Records a freshly started instance, unless the pool is closed (then the instance comes
    /// back for the caller to kill).
    pub(crate) fn register(&self, instance: Instance) -> Result<Instance, Instance> {
        let mut state = lock(&self.state);
        if state.closed {
            return Err(instance);
        }
        state.live.retain(|_, exit| !exit.has_exited());
        state.live.insert(instance.id(), instance.exit_handle());
        state.started += 1;
        Ok(instance)
    }

    /// Puts an instance back for the next invocation (or drops, and so kills, it once closed).
    pub(crate) fn release(&self, instance: Instance) {
        let mut state = lock(&self.state);
        if state.closed {
            drop(state);
            drop(instance);
            return;
        }
        state.idle.push(instance);
    }

    /// Refuses further invocations, sends every instance the kill signal and returns their exit
    /// handles so the caller can wait for them.
    pub(crate) fn close(&self) -> Vec<ExitHandle> {
        self.permits.close();
        let (idle, live) = {
            let mut state = lock(&self.state);
            state.closed = true;
            let idle = std::mem::take(&mut state.idle);
            let live: Vec<ExitHandle> = state.live.values().cloned().collect();
            (idle, live)
        };
        drop(idle);
        for exit in &live {
            exit.kill();
        }
        live
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let state = lock(&self.state);
        PoolStats {
            total: state.live.values().filter(|e| !e.has_exited()).count(),
            busy: state.busy,
            idle: state.idle.len(),
            waiting: state.waiting,
            started: state.started,
        }
    }
}

/// An invocation's claim on one of the function's instance slots.
pub(crate) struct Busy {
    pub(crate) pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = lock(&self.pool.state);
        state.busy = state.busy.saturating_sub(1);
    }
}

/// Counts an invocation queued for a slot, even if it is abandoned while waiting.
struct Waiting<'a>(&'a Pool);

impl<'a> Waiting<'a> {
    fn enter(pool: &'a Pool) -> Self {
        lock(&pool.state).waiting += 1;
        Self(pool)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.waiting = state.waiting.saturating_sub(1);
    }
}
