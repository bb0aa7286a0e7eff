//! hello: an observability-first HTTP service.
//!
//! The public surface is what `main` and the tests use: [`Config`] (read from
//! the environment), [`build_app`] (the routers with all their layers),
//! [`Listeners`] (the public and admin sockets) and [`serve`] (both
//! listeners with graceful shutdown). Data flows one way:
//! config → telemetry → app → routes → scratch store.

pub mod app;
pub mod build_info;
pub mod config;
pub mod error;
pub mod healthcheck;
pub mod routes;
pub mod scratch;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use app::{App, build_app};
pub use config::Config;
pub use server::{Listeners, serve};
