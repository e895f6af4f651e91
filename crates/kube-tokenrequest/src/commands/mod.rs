//! The subcommands, one module each, with their flags (`main.rs` dispatches to them).

pub mod conformance;
pub mod controlplane;
pub mod create;
pub mod credential;
pub mod doctor;
pub mod inspect;
pub mod probe;
pub mod review;
pub mod verify;
