//! henn-compiler: the driver that runs the compiler's stages in order and produces an execution
//! plan. The `henn` binary (src/main.rs) is its command-line front end.

pub mod pipeline;
