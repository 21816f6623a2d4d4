//! File-driven integration tests live in tests/*.rs.
