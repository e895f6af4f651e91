//! `tokenrequest-evidence`: the measurements behind the project's claims, each against real servers started and
//! stopped through `tokenrequest-envtest` (the embedded server as `kube-tokenrequest serve`, a real kube-apiserver
//! + etcd), run as processes like a user runs them:
//!
//! - `bench`: the issuer against its signing limit and a real kube-apiserver, and the product's waits
//!   (BENCHMARKS.md);
//! - `differential`: the embedded server and a real kube-apiserver, request by request;
//! - `reliability barrage|load|leak|interrupt|regressions`: the long forms of the reliability and security checks.
//!
//! `cargo xtask bench|differential|reliability` runs this binary, so xtask itself needs no TLS, runtime or
//! server. The CLI is declared once in [`flags`]; each command lives in its own module and this file only
//! dispatches.

mod bench;
mod differential;
mod flags;
mod reliability;
mod workspace_build;

use std::process::ExitCode;

use clap::Parser as _;
use tokenrequest_envtest::progress;

fn main() -> ExitCode {
    let flags = flags::Evidence::parse();
    let res = match flags.command {
        flags::Command::Bench(args) => bench::run(&args),
        flags::Command::Differential(args) => differential::run(&args),
        flags::Command::Reliability(check) => reliability::run(&check).map(|()| ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(err) => {
            // One line, without a token: a person (or a CI log) should see the reason without a backtrace.
            progress::error_line(&tokenrequest_types::token::redact_jwts(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}
