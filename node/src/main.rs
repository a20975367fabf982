//! The `knack` binary (being written).

fn main() {}
