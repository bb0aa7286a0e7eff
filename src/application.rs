//! One way to build and run the service: [`Application::build`] binds both
//! listeners and builds the routers; `main` runs it, and every test starts
//! the very same thing, so no test can pass against an app production does
//! not run.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};

use crate::app::{App, build_app};
use crate::config::Config;
use crate::server::{Listeners, serve};
use crate::telemetry::metrics::MetricsRenderer;

pub struct Application {
    listeners: Listeners,
    app: App,
    public: SocketAddr,
    admin: SocketAddr,
}

impl Application {
    /// Binds `PORT` and `ADMIN_PORT` on `ip` (every interface in production,
    /// loopback in tests; port 0 lets the kernel pick) and builds the app.
    pub async fn build(
        config: &Config,
        metrics: MetricsRenderer,
        ip: IpAddr,
    ) -> std::io::Result<Application> {
        let listeners = Listeners::bind_on(ip, config).await?;
        let public = listeners.public_addr()?;
        let admin = listeners.admin_addr()?;
        Ok(Application {
            listeners,
            app: build_app(config, metrics),
            public,
            admin,
        })
    }

    /// The public listener's address (the API).
    pub fn public_addr(&self) -> SocketAddr {
        self.public
    }

    /// The admin listener's address (probes, `/metrics`).
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
    }

    /// Serves until `shutdown` resolves, then drains and stops
    /// (see [`crate::server::serve`]).
    pub async fn run(self, shutdown: impl Future<Output = &'static str>) -> std::io::Result<()> {
        serve(self.listeners, self.app, shutdown).await
    }
}
