//! How components read their settings: each component (server, scratch,
//! greeting, faults, logs, traces, Kafka sink) declares its own settings type
//! and parses its own variables with these helpers; [`crate::config`] only
//! composes them, and [`table`] declares every variable for `--help` and the
//! README. Everything is read once at start. An invalid value is a
//! [`ConfigError`] that names the variable (the process exits 78 before it
//! listens). Empty values count as unset (Kubernetes manifests often render
//! `value: ""`).

pub mod table;

use std::borrow::Cow;
use std::str::FromStr;

/// How a component looks a variable up (the process environment, or a test's map).
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The value of `name` when it is set and not blank.
pub(crate) fn get(lookup: Lookup<'_>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// A configuration error: which variable, what it held, and why it is wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid {var}={value:?}: {reason}")]
pub struct ConfigError {
    /// Owned for variables named at run time (`KAFKA_PROP_<name>`).
    pub var: Cow<'static, str>,
    pub value: String,
    pub reason: String,
}

pub(crate) fn err(var: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    err_owned(Cow::Borrowed(var), value, reason)
}

pub(crate) fn err_owned(
    var: impl Into<Cow<'static, str>>,
    value: &str,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError {
        var: var.into(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

pub(crate) fn parse_num<T: FromStr>(var: &'static str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| err(var, v, "not a whole number in range"))
}

pub(crate) fn parse_bool(var: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(err(var, v, "expected `true` or `false`")),
    }
}

pub(crate) fn positive(
    var: &'static str,
    v: Option<String>,
    default: u64,
) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => match parse_num::<u64>(var, &v)? {
            0 => Err(err(var, &v, "must be greater than 0")),
            n => Ok(n),
        },
    }
}

pub(crate) fn bounded(
    var: &'static str,
    v: Option<String>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => {
            let n: u64 = parse_num(var, &v)?;
            if n < min || n > max {
                return Err(err(var, &v, format!("must be between {min} and {max}")));
            }
            Ok(n)
        }
    }
}

/// A listen port: 0 asks the kernel for a free one (tests); otherwise ≥ 1024.
pub(crate) fn parse_port(
    var: &'static str,
    value: Option<String>,
    default: u16,
) -> Result<u16, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    let p: u16 = parse_num(var, &v)?;
    if p != 0 && p < 1024 {
        return Err(err(
            var,
            &v,
            "must be 1024..65535 (the service never needs a privileged port)",
        ));
    }
    Ok(p)
}
