//! The command line: `hello` / `hello serve` runs the service,
//! `hello healthcheck` probes a running one (for the image's HEALTHCHECK).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use hello::{Application, Config, shutdown, telemetry};

/// sysexits.h EX_CONFIG: the configuration is wrong, restarting won't help.
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => run(),
        Some("healthcheck") => match hello::healthcheck::check(std::env::var("ADMIN_PORT").ok()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hello healthcheck: {e}");
                ExitCode::FAILURE
            }
        },
        Some("help" | "--help" | "-h") => {
            print!("{}", hello::settings::table::help());
            ExitCode::SUCCESS
        }
        Some("version" | "--version") => {
            println!(
                "hello {} ({})",
                hello::build_info::VERSION,
                hello::build_info::REVISION
            );
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!(
                "hello: unknown command {other:?}; usage: hello [serve|healthcheck|version|--help]"
            );
            ExitCode::from(2)
        }
    }
}

fn run() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            // Telemetry is not up yet: one JSON line on stderr, same shape as the logs.
            let line = serde_json::json!({
                "timestamp": humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
                "level": "ERROR",
                "target": "hello::config",
                "message": format!("configuration error: {e}"),
                "variable": e.var,
            });
            eprintln!("{line}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hello: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_service(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "fatal");
            eprintln!("hello: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run_service(config: Config) -> anyhow::Result<()> {
    let telemetry = telemetry::init(&config).context("starting telemetry")?;
    let any = std::net::Ipv4Addr::UNSPECIFIED.into();
    let application = Application::build(&config, telemetry.metrics.clone(), any)
        .await
        .with_context(|| {
            format!(
                "binding PORT {} and ADMIN_PORT {}",
                config.server.port, config.server.admin_port
            )
        })?;
    tracing::info!(
        port = application.public_addr().port(),
        admin_port = application.admin_addr().port(),
        version = hello::build_info::VERSION,
        revision = hello::build_info::REVISION,
        fault_injection = config.fault_injection,
        otlp = config.traces.otlp.is_some(),
        "listening"
    );
    application
        .run(shutdown::signal())
        .await
        .context("serving")?;
    telemetry.shutdown(Duration::from_secs(3)).await;
    Ok(())
}
