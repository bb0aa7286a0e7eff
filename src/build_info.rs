//! What was built: stamped by `build.rs`.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const REVISION: &str = env!("HELLO_REVISION");
pub const BUILD_DATE: &str = env!("HELLO_BUILD_DATE");
pub const RUSTC: &str = env!("HELLO_RUSTC");
