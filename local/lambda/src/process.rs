//! Starting function processes so they never outlive the stack.
//!
//! Children get `PR_SET_PDEATHSIG = SIGKILL`. Linux sends that signal when the *thread* that
//! forked the child ends, not the process, so children are forked from one dedicated thread that
//! lives exactly as long as its [`Spawner`] (and so its `Lambda`), never from a tokio worker or
//! blocking-pool thread that may come and go.

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};

use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Locks a mutex, carrying on with the data if a holder panicked.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Job {
    command: Command,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// Forks children from a dedicated thread, started on first use.
#[derive(Default)]
pub(crate) struct Spawner {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Spawner {
    /// Starts `command` (which should have been through [`die_with_parent`]).
    pub(crate) async fn spawn(&self, command: Command) -> io::Result<Child> {
        let (reply, answer) = oneshot::channel();
        {
            let mut jobs = lock(&self.jobs);
            let sender = match jobs.as_ref() {
                Some(sender) => sender.clone(),
                None => {
                    let sender = start_thread(Handle::current())?;
                    *jobs = Some(sender.clone());
                    sender
                }
            };
            sender
                .send(Job { command, reply })
                .map_err(|_| io::Error::other("the process spawner thread has stopped"))?;
        }
        answer
            .await
            .map_err(|_| io::Error::other("the process spawner thread has stopped"))?
    }
}

fn start_thread(runtime: Handle) -> io::Result<mpsc::Sender<Job>> {
    let (sender, receiver) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("lambda-spawner".to_string())
        .spawn(move || {
            // tokio registers the child with the runtime's process driver.
            let _runtime = runtime.enter();
            while let Ok(mut job) = receiver.recv() {
                let _ = job.reply.send(job.command.spawn());
            }
        })?;
    Ok(sender)
}

/// Makes the child receive SIGKILL when the thread that forked it exits.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only async-signal-safe
    // calls are allowed; it makes two raw syscalls (prctl, getppid), allocates nothing and takes no
    // locks.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl call took effect.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn die_with_parent(_command: &mut Command) {}
