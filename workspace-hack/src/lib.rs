//! The workspace-hack crate kept by `cargo hakari`: it depends on every third-party crate with the union of the
//! features the workspace uses, so every package builds each dependency once, the same way (see ARCHITECTURE.md).
