//! How commands that print an object print it (`-o`).

use clap::ValueEnum;

/// `-o` of commands that print an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ObjectFormat {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}
