//! knack-protocol (being written).
