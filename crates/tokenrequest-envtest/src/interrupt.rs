//! Ctrl-C and SIGTERM: remember that a stop was asked for, so that whatever a run started is torn
//! down by the normal path instead of being left behind by an abrupt exit. Every wait of this crate
//! ([`crate::supervisor::Supervised::wait_until`], kind's and k3s' readiness loops) ends with
//! [`crate::Error::Interrupted`] once it is asked.
//!
//! A second signal exits at once (status 130), for the case where teardown itself hangs.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler; call once, early. Failure to install is not fatal (the run still works,
/// only Ctrl-C would then kill xtask without teardown), so it is reported and ignored.
/// `notice` is told (once per signal) what is happening, e.g. to print it.
pub fn install(notice: fn(&str)) {
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(err) => {
                notice(&format!("cannot watch for Ctrl-C: {err}"));
                return;
            }
        };
        rt.block_on(async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(err) => {
                    notice(&format!("cannot watch for SIGTERM: {err}"));
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
                notice("interrupted: stopping what was started (press Ctrl-C again to exit now)");
            }
        });
    });
    if let Err(err) = spawned {
        notice(&format!("cannot watch for Ctrl-C: {err}"));
    }
}

/// Whether Ctrl-C or SIGTERM has arrived.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
