//! The editor's own runtime: websocket sessions, their forwarders and
//! writers run on worker threads at a lower CPU priority than runs.
//!
//! Runs are what the server is for; watching them must not slow them down.
//! The executor never waits for a client (see [`hub`](super::hub)), but
//! the work of fanning events out to many clients still competes for the
//! same CPUs. On these threads (nice [`EDITOR_NICE`] on Linux), the kernel
//! gives that work the CPU time runs leave idle and only a small share
//! when runs want it all: under full load, editor clients then see their
//! events later (and, past [`ServerConfig::ws_stall`](super::ServerConfig),
//! get `lagged`) instead of the runs slowing down. Idle, nothing changes:
//! latency to a client is the same.
//!
//! The runtime is made at the first session and lives as long as the
//! process ([`editor_runtime`]), so an idle server has no extra threads;
//! sockets accepted on the main runtime are served from it (tokio I/O
//! works across runtimes). `weft serve` uses it
//! ([`AppState::editor_background`](super::AppState)); in-process tests
//! do not.

use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

/// The nice value of the editor's threads (0 is normal, 19 the lowest
/// priority): a CPU-bound thread at nice 10 gets about a tenth of the time
/// of one at nice 0 when they compete.
pub const EDITOR_NICE: i32 = 10;

static EDITOR: OnceLock<Runtime> = OnceLock::new();

/// The editor's runtime (made on first use, with as many workers as
/// CPUs, at most 4), or `None` if it could not be made (then sessions run
/// on the caller's runtime).
pub fn editor_runtime() -> Option<Handle> {
    if let Some(rt) = EDITOR.get() {
        return Some(rt.handle().clone());
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(4);
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("weft-editor")
        .on_thread_start(|| lower_priority(EDITOR_NICE))
        .enable_all()
        .build();
    match built {
        Ok(rt) => Some(EDITOR.get_or_init(|| rt).handle().clone()),
        Err(e) => {
            tracing::warn!(error = %e, "no separate editor runtime: sessions share the run workers");
            None
        }
    }
}

/// Lowers the calling thread's CPU priority to `nice` (Linux: nice values
/// are per thread). Failing is harmless: the thread keeps its priority.
#[cfg(target_os = "linux")]
pub fn lower_priority(nice: i32) {
    // SAFETY: setpriority takes plain integers and touches no memory of
    // ours; `who` 0 is the calling thread on Linux.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc != 0 {
        tracing::debug!(
            error = %std::io::Error::last_os_error(),
            "could not lower an editor thread's priority"
        );
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_priority(_nice: i32) {}
