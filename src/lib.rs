//! hello: an observability-first HTTP service.
//!
//! The public surface is what `main` and the tests use: [`Config`] (read from
//! the environment), [`telemetry::init`] (once per process) and
//! [`Application`] (both listeners bound, the routers built; `run` serves
//! until shutdown). Data flows one way:
//! config → telemetry → app → routes → scratch store.

pub mod app;
pub mod application;
pub mod build_info;
pub mod config;
pub mod edge;
pub mod error;
pub mod healthcheck;
pub mod routes;
pub mod scratch;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use application::Application;
pub use config::Config;
