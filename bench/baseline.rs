//! The benchmark's baseline: bare axum on the same axum/tokio versions as
//! hello, one plain `/` handler, no telemetry. `bench/run.sh` runs it side by
//! side with hello to report hello's cost as a ratio.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8081);
    let app = Router::new().route("/", get(|| async { "Hello, World!\n" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}
