//! henn-tir (under construction).
