//! Stamps the binary with its revision, build date and compiler, so
//! `/version` and `hello_build_info` say exactly what is running.
//! `HELLO_REVISION` / `HELLO_BUILD_DATE` (image build arguments) win over git;
//! `SOURCE_DATE_EPOCH` keeps builds reproducible.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo:rerun-if-env-changed=HELLO_REVISION");
    println!("cargo:rerun-if-env-changed=HELLO_BUILD_DATE");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    println!("cargo:rerun-if-changed=.git/HEAD");

    let revision = std::env::var("HELLO_REVISION")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| output("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let date = std::env::var("HELLO_BUILD_DATE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let at = std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.parse().ok())
                .map(|s| UNIX_EPOCH + Duration::from_secs(s))
                .unwrap_or_else(SystemTime::now);
            humantime::format_rfc3339_seconds(at).to_string()
        });
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".to_owned());

    println!("cargo:rustc-env=HELLO_REVISION={revision}");
    println!("cargo:rustc-env=HELLO_BUILD_DATE={date}");
    println!("cargo:rustc-env=HELLO_RUSTC={rustc_version}");
}

fn output(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
