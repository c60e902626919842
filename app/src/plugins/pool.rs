//! Threads for plugin calls, kept between calls so a call costs a hand-off, not
//! a thread start. A call that never returns (a plugin ignoring cancellation)
//! keeps its thread, and the pool starts another for the next call.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;

use crossbeam_channel::Sender;

type Job = Box<dyn FnOnce() + Send>;

/// Idle threads, each waiting on its own channel.
static IDLE: Mutex<Vec<Sender<Job>>> = Mutex::new(Vec::new());

/// Idle threads kept at most; more exit when their call is done.
const KEEP: usize = 16;

/// Runs `job` on an idle pool thread, or on a new one.
pub fn execute(job: Job) -> std::io::Result<()> {
    let mut job = job;
    while let Some(idle) = IDLE.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        match idle.send(job) {
            Ok(()) => return Ok(()),
            Err(returned) => job = returned.0,
        }
    }
    let (tx, rx) = crossbeam_channel::bounded::<Job>(1);
    tx.send(job).expect("the receiver is alive");
    std::thread::Builder::new()
        .name("gspeech plugin call".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                let _ = catch_unwind(AssertUnwindSafe(job));
                let mut idle = IDLE.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() >= KEEP {
                    break;
                }
                idle.push(tx.clone());
            }
        })?;
    Ok(())
}
