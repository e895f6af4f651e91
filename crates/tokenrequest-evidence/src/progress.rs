//! Everything this binary writes to the terminal goes through here, as plain lines: a step's start
//! (`==> name: what`) and end (`✓ name result (time)`) and diagnostics on stderr; results (tables, the verdict
//! line, report paths) on stdout, so `... > verdict.txt` keeps only what a person asked for. Its runs take minutes
//! and end up in CI logs, where spinners do not help.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this module is the binary's terminal"
)]

use std::time::{Duration, Instant};

/// One step of a run (build, start, a load phase), from its start line to its end line.
pub(crate) struct Step {
    name: &'static str,
    started: Instant,
    total: Option<u64>,
    /// A counter is printed at most this often, so a long run shows life without one line per item.
    last_tick: Instant,
    finished: bool,
}

impl Step {
    /// A step doing `message`.
    pub(crate) fn start(name: &'static str, message: &str) -> Self {
        eprintln!("==> {name}: {message}");
        Self::new(name, None)
    }

    /// A step that counts `total` items, shown as `N/M` every 10 s.
    pub(crate) fn counter(name: &'static str, total: u64, message: &str) -> Self {
        eprintln!("==> {name}: 0/{total} {message}");
        Self::new(name, Some(total))
    }

    fn new(name: &'static str, total: Option<u64>) -> Self {
        Self {
            name,
            started: Instant::now(),
            total,
            last_tick: Instant::now(),
            finished: false,
        }
    }

    /// Sets the count of finished items, with a short note.
    pub(crate) fn position(&mut self, done: u64, note: &str) {
        if self.last_tick.elapsed() >= Duration::from_secs(10) {
            self.last_tick = Instant::now();
            let total = self.total.map_or_else(|| "?".to_owned(), |t| t.to_string());
            eprintln!(
                "    {} {done}/{total} {note} ({})",
                self.name,
                elapsed(self.started.elapsed())
            );
        }
    }

    /// Ends the step successfully.
    pub(crate) fn done(mut self, message: &str) {
        self.finish('✓', message);
    }

    /// Ends the step as failed.
    pub(crate) fn fail(mut self, message: &str) {
        self.finish('✗', message);
    }

    fn finish(&mut self, mark: char, message: &str) {
        self.finished = true;
        let took = elapsed(self.started.elapsed());
        match message {
            "" => eprintln!("{mark} {} ({took})", self.name),
            _ => eprintln!("{mark} {} {message} ({took})", self.name),
        }
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        // A step left unfinished was cut short by an error (the error itself is printed by main).
        if !self.finished {
            self.finish('✗', "stopped");
        }
    }
}

/// A line of output for the person running the command (tables, the verdict, report paths).
pub(crate) fn line(text: &str) {
    println!("{text}");
}

/// A warning on stderr.
pub(crate) fn warn_line(text: &str) {
    eprintln!("warning: {text}");
}

/// The one-line error main prints before exiting non-zero.
pub(crate) fn error_line(text: &str) {
    eprintln!("error: {text}");
}

/// `12.3s` or `2m05s`.
pub(crate) fn elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
