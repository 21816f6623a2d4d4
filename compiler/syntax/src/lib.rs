//! henn-syntax (under construction).
