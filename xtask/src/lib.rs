//! The library half of `cargo xtask`: the parts that other xtask commands and the integration
//! tests call directly (starting a real control plane), kept out of `main.rs` so they are a
//! stable API rather than CLI plumbing.

pub mod controlplane;
