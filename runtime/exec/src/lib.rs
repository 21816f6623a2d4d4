//! henn-runtime: executes a validated plan.
//!
//! The central function is [`executor::run_step`], generic over a [`Backend`]: the slot simulator
//! ([`sim::SlotSim`]) for differential tests and error prediction, and the CKKS backend
//! ([`ckks::CkksBackend`]), which holds evaluation keys only: **the server role has no secret-key
//! type anywhere in its API.** The owner's side (key generation from the plan's manifest,
//! encryption of data and state, decryption) lives in [`owner`].

pub mod backend;
pub mod ckks;
pub mod context;
pub mod executor;
pub mod files;
pub mod infer;
pub mod keys;
pub mod server;
pub mod sim;
pub mod stream;

pub use backend::{Backend, ExecError};
