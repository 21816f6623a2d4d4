//! henn-ckks (under construction).
