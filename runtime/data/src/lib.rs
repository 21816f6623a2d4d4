//! henn-data (under construction).
