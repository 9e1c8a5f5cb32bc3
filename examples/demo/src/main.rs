//! Demo backend (being built).
fn main() {}
