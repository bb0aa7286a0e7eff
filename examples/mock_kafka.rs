//! librdkafka's mock cluster as a program: a Kafka-protocol broker on a real
//! TCP port, for the benchmark (bench/run.sh), the reliability matrix
//! (reliability/harness.py) and for trying the Kafka log sink by hand.
//!
//! ```text
//! cargo build --example mock_kafka     # scripts/test-rust.sh builds it too
//! target/debug/examples/mock_kafka
//! ```
//!
//! Prints `KAFKA_MOCK_BOOTSTRAP=host:port` once the broker listens (one
//! broker, topic `hello-logs` with one partition), then serves for
//! `KAFKA_MOCK_SECONDS` (default 60) seconds and exits 0. With
//! `KAFKA_MOCK_FLAP=N` the broker goes down after N seconds, comes back N
//! seconds later and so on, printing `KAFKA_MOCK_BROKER_UP=false` or `=true`
//! at each change (the "lost mid-run" rows). SIGTERM or SIGINT ends it early,
//! also with exit status 0. Read what the service produced with
//! `kcat -C -b host:port -t hello-logs`. `tests/kafka.rs` runs this program.
use std::time::Duration;

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::{Instant, sleep_until};

const TOPIC: &str = "hello-logs";

/// A whole number of seconds from the environment; unset or not a number: None.
fn seconds(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|s| s.trim().parse().ok())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cluster: MockCluster<'static, DefaultProducerContext> =
        MockCluster::new(1).expect("mock cluster");
    cluster.create_topic(TOPIC, 1, 1).expect("create topic");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    // Stdout is line-buffered: the line reaches a pipe or a file at once.
    println!("KAFKA_MOCK_BOOTSTRAP={}", cluster.bootstrap_servers());

    let start = Instant::now();
    let end = start + Duration::from_secs(seconds("KAFKA_MOCK_SECONDS").unwrap_or(60));
    let flap = seconds("KAFKA_MOCK_FLAP")
        .filter(|&n| n > 0)
        .map(Duration::from_secs);
    let serve = async {
        let Some(period) = flap else {
            sleep_until(end).await;
            return;
        };
        // Changes at start + N, + 2N, … (on a schedule: a late wake-up does
        // not shift the later ones), none at or after the end.
        let mut up = true;
        let mut next = start + period;
        while next < end {
            sleep_until(next).await;
            up = !up;
            if up {
                cluster.broker_up(1).expect("broker up");
            } else {
                cluster.broker_down(1).expect("broker down");
            }
            println!("KAFKA_MOCK_BROKER_UP={up}");
            next += period;
        }
        sleep_until(end).await;
    };
    tokio::select! {
        () = serve => {}
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
