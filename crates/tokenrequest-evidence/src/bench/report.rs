//! The results of one `cargo xtask bench` run: one row per measured ratio with its goal and verdict, printed as
//! a table on the terminal and written as Markdown (for BENCHMARKS.md).

use std::fmt::Write as _;

/// Whether a row met its goal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Met,
    NotMet,
    /// Not measured in this run, and why (e.g. no kube-apiserver binaries). Never a number.
    Skipped(String),
    /// The measurement itself failed.
    Error(String),
    /// A number recorded for comparison, without a goal.
    Info,
}

impl Verdict {
    pub(crate) fn of(met: bool) -> Self {
        if met { Verdict::Met } else { Verdict::NotMet }
    }

    fn text(&self) -> String {
        match self {
            Verdict::Met => "met".to_owned(),
            Verdict::NotMet => "NOT MET".to_owned(),
            Verdict::Skipped(why) => format!("skipped: {why}"),
            Verdict::Error(why) => format!("ERROR: {why}"),
            Verdict::Info => "-".to_owned(),
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) measured: String,
    pub(crate) goal: String,
    pub(crate) verdict: Verdict,
    /// The numbers behind the ratio.
    pub(crate) detail: String,
}

impl Row {
    pub(crate) fn new(name: &str, measured: String, goal: &str, verdict: Verdict, detail: String) -> Self {
        Self {
            name: name.to_owned(),
            measured,
            goal: goal.to_owned(),
            verdict,
            detail,
        }
    }

    pub(crate) fn skipped(name: &str, goal: &str, why: &str) -> Self {
        Self::new(
            name,
            "-".to_owned(),
            goal,
            Verdict::Skipped(why.to_owned()),
            String::new(),
        )
    }

    pub(crate) fn error(name: &str, goal: &str, err: &anyhow::Error) -> Self {
        Self::new(
            name,
            "-".to_owned(),
            goal,
            Verdict::Error(format!("{err:#}")),
            String::new(),
        )
    }
}

/// A fixed-width table for the terminal.
pub(crate) fn text(rows: &[Row]) -> String {
    let w = |f: fn(&Row) -> String, title: &str| rows.iter().map(|r| f(r).chars().count()).chain([title.len()]).max();
    let wn = w(|r| r.name.clone(), "measure").unwrap_or(0);
    let wm = w(|r| r.measured.clone(), "measured").unwrap_or(0);
    let wg = w(|r| r.goal.clone(), "goal").unwrap_or(0);
    let wv = w(|r| r.verdict.text(), "verdict").unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:wn$}  {:>wm$}  {:wg$}  {:wv$}  details",
        "measure", "measured", "goal", "verdict"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:wn$}  {:>wm$}  {:wg$}  {:wv$}  {}",
            r.name,
            r.measured,
            r.goal,
            r.verdict.text(),
            r.detail
        );
    }
    out
}

/// A Markdown table.
pub(crate) fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| measure | measured | goal | verdict | details |\n|---|---:|---|---|---|\n");
    for r in rows {
        let cell = |s: &str| s.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            cell(&r.name),
            cell(&r.measured),
            cell(&r.goal),
            cell(&r.verdict.text()),
            cell(&r.detail)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_pipes_and_names_the_verdict() {
        let rows = [
            Row::new("a|b", "1.0x".into(), ">= 0.75", Verdict::of(true), "x".into()),
            Row::skipped("real", ">= 3x", "no binaries"),
        ];
        let md = markdown(&rows);
        assert!(md.contains("| a\\|b | 1.0x | >= 0.75 | met | x |"));
        assert!(md.contains("skipped: no binaries"));
        assert!(!text(&rows).contains("NOT MET"));
    }
}
