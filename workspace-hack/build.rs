//! A build script, so that cargo also unifies the features of build dependencies (`cargo hakari`).

fn main() {}
