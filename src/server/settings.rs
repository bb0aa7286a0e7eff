//! The listeners' and the request layers' settings: ports, connection and
//! request limits, timeouts, the shutdown drain.

use std::time::Duration;

use crate::settings::{ConfigError, Lookup, bounded, err, get, parse_port};

#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `PORT`: the public API listener; 0 asks the kernel for a free port
    /// (tests); otherwise ≥ 1024.
    pub port: u16,
    /// `ADMIN_PORT`: probes and `/metrics`, never published; same rules.
    pub admin_port: u16,
    /// `MAX_CONNECTIONS`: open public connections before the listener stops
    /// accepting (memory bound).
    pub max_connections: usize,
    /// `MAX_CONCURRENT_REQUESTS`: in flight before shedding.
    pub max_concurrent_requests: usize,
    /// `MAX_HEADER_BYTES`.
    pub max_header_bytes: usize,
    /// `REQUEST_TIMEOUT_SECONDS`; also the send timeout.
    pub request_timeout: Duration,
    /// `HEADER_READ_TIMEOUT_SECONDS`: time a client gets to send a request's
    /// headers (slowloris bound).
    pub header_read_timeout: Duration,
    /// `SHUTDOWN_DRAIN_SECONDS`.
    pub shutdown_drain: Duration,
}

/// `ADMIN_PORT` when unset or blank.
const ADMIN_PORT_DEFAULT: u16 = 8081;

impl ServerSettings {
    pub(crate) fn parse(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(lookup, name);
        let port = parse_port("PORT", get("PORT"), 8080)?;
        let admin_port = parse_port("ADMIN_PORT", get("ADMIN_PORT"), ADMIN_PORT_DEFAULT)?;
        if port == admin_port && port != 0 {
            // Echo what was set; a blank stands for the default, so say which.
            let given = lookup("ADMIN_PORT").unwrap_or_else(|| ADMIN_PORT_DEFAULT.to_string());
            let reason = "must differ from PORT (probes and metrics get their own listener)";
            return Err(if given.trim().is_empty() {
                let reason =
                    format!("blank means the default {ADMIN_PORT_DEFAULT}, which {reason}");
                err("ADMIN_PORT", &given, reason)
            } else {
                err("ADMIN_PORT", &given, reason)
            });
        }
        let seconds = |var: &'static str, default, min, max| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(bounded(
                var,
                get(var),
                default,
                min,
                max,
            )?))
        };
        let count = |var: &'static str, default, min, max| -> Result<usize, ConfigError> {
            Ok(bounded(var, get(var), default, min, max)? as usize)
        };
        Ok(ServerSettings {
            port,
            admin_port,
            shutdown_drain: seconds("SHUTDOWN_DRAIN_SECONDS", 5, 0, 300)?,
            request_timeout: seconds("REQUEST_TIMEOUT_SECONDS", 10, 1, 300)?,
            header_read_timeout: seconds("HEADER_READ_TIMEOUT_SECONDS", 5, 1, 60)?,
            max_concurrent_requests: count("MAX_CONCURRENT_REQUESTS", 512, 1, 1_000_000)?,
            max_connections: count("MAX_CONNECTIONS", 16_384, 1, 1_000_000)?,
            max_header_bytes: count("MAX_HEADER_BYTES", 16 * 1024, 1024, 1024 * 1024)?,
        })
    }
}
