//! What long-running commands (starting a target, building a control plane, running checks, a benchmark) write
//! to the terminal: steps with a spinner and elapsed time (or a counter) on a TTY, plain lines when not on a TTY
//! or when `CI=true`, so that CI logs stay readable and terminals stay lively. Both the `kube-tokenrequest` CLI
//! and the repository's evidence tool use it; a [`Step`]'s [`Step::message`] is the natural `progress` callback
//! of [`crate::target::TargetSpec::start`].
//!
//! Progress and diagnostics go to stderr; results (the verdict, tables, report paths) go to stdout, so
//! `kube-tokenrequest conformance > verdict.txt` keeps only what a person asked for.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "this module is the terminal of long-running commands"
)]

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Whether to print plain lines instead of drawing spinners.
pub fn plain() -> bool {
    static PLAIN: OnceLock<bool> = OnceLock::new();
    *PLAIN.get_or_init(|| {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        ci || !std::io::stderr().is_terminal()
    })
}

/// One step of a run (build, start, ready, checks, teardown), shown until it is finished.
pub struct Step {
    name: &'static str,
    started: Instant,
    bar: Option<ProgressBar>,
    total: Option<u64>,
    // Plain mode prints a counter at most this often, so a long suite shows life without
    // flooding the log with one line per check.
    last_plain_tick: Instant,
    finished: bool,
}

impl Step {
    /// A step with a spinner and a message.
    pub fn start(name: &'static str, message: &str) -> Self {
        Self::new(name, None, message)
    }

    /// A step that counts `total` items (checks), shown as `N/M`.
    pub fn counter(name: &'static str, total: u64, message: &str) -> Self {
        Self::new(name, Some(total), message)
    }

    fn new(name: &'static str, total: Option<u64>, message: &str) -> Self {
        let bar = (!plain()).then(|| {
            let (bar, template) = match total {
                Some(total) => (
                    ProgressBar::new(total),
                    "{spinner:.cyan} {prefix:.bold} {pos}/{len} {msg} [{elapsed}]",
                ),
                None => (
                    ProgressBar::new_spinner(),
                    "{spinner:.cyan} {prefix:.bold} {msg} [{elapsed}]",
                ),
            };
            bar.set_style(ProgressStyle::with_template(template).expect("a valid template"));
            bar.set_prefix(name);
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        if bar.is_none() {
            match total {
                Some(total) => eprintln!("==> {name}: 0/{total} {message}"),
                None => eprintln!("==> {name}: {message}"),
            }
        }
        Self {
            name,
            started: Instant::now(),
            bar,
            total,
            last_plain_tick: Instant::now(),
            finished: false,
        }
    }

    /// Replaces the message (spinner mode only; plain logs keep the first).
    pub fn message(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
        }
    }

    /// Sets the count of finished items, with a short note (e.g. the last check's name).
    pub fn position(&mut self, done: u64, note: &str) {
        match &self.bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(note.to_owned());
            }
            None => {
                if self.last_plain_tick.elapsed() >= Duration::from_secs(10) {
                    self.last_plain_tick = Instant::now();
                    let total = self.total.map_or_else(|| "?".to_owned(), |t| t.to_string());
                    let took = elapsed(self.started.elapsed());
                    match note {
                        "" => eprintln!("    {} {done}/{total} ({took})", self.name),
                        _ => eprintln!("    {} {done}/{total} {note} ({took})", self.name),
                    }
                }
            }
        }
    }

    /// Prints a line above the spinner (or plainly).
    pub fn note(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("  {line}")),
            None => eprintln!("    {line}"),
        }
    }

    /// Ends the step successfully.
    pub fn done(mut self, message: &str) {
        self.finish('✓', message);
    }

    /// Ends the step as failed.
    pub fn fail(mut self, message: &str) {
        self.finish('✗', message);
    }

    fn finish(&mut self, mark: char, message: &str) {
        self.finished = true;
        let took = elapsed(self.started.elapsed());
        let line = match message {
            "" => format!("{mark} {} ({took})", self.name),
            _ => format!("{mark} {} {message} ({took})", self.name),
        };
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("{line}");
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

/// A line of output for the person running the command (the verdict, tables, report paths).
pub fn line(text: &str) {
    println!("{text}");
}

/// A progress note on stderr, outside any step.
pub fn note_line(text: &str) {
    eprintln!("    {text}");
}

/// A warning on stderr.
pub fn warn_line(text: &str) {
    eprintln!("warning: {text}");
}

/// The one-line error a command prints before exiting non-zero.
pub fn error_line(text: &str) {
    eprintln!("error: {text}");
}

/// `12.3s` or `2m05s`.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}
