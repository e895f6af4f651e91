//! Ctrl-C and SIGTERM: remember that a stop was asked for, so that whatever xtask started is torn
//! down by the normal path instead of being left behind by an abrupt exit.
//!
//! A second signal exits at once (status 130), for the case where teardown itself hangs.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler; call once, early. Failure to install is not fatal (the run still works,
/// only Ctrl-C would then kill xtask without teardown), so it is reported and ignored.
pub(crate) fn install() {
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(|| {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(err) => {
                crate::progress::warn_line(&format!("cannot watch for Ctrl-C: {err}"));
                return;
            }
        };
        rt.block_on(async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    crate::progress::warn_line(&format!("cannot watch for SIGTERM: {err}"));
                    return;
                }
            };
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                if REQUESTED.swap(true, Ordering::SeqCst) {
                    std::process::exit(130);
                }
                crate::progress::warn_line("interrupted: stopping what was started (press Ctrl-C again to exit now)");
            }
        });
    });
    if let Err(err) = spawned {
        crate::progress::warn_line(&format!("cannot watch for Ctrl-C: {err}"));
    }
}

/// Whether Ctrl-C or SIGTERM has arrived.
pub(crate) fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// An error to return from a wait loop that noticed [`requested`].
pub(crate) fn error() -> anyhow::Error {
    anyhow::format_err!("interrupted")
}
