//! # knack-sim
//!
//! The discrete-event network simulator: thousands of simulated agents running the real
//! `knack-crdt` and `knack-protocol` code over a modelled network. Not written yet; this crate
//! is its home.
