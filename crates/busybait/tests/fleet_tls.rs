//! The fleet over TLS: a sensor and a collector through a NATS server that takes TLS
//! only, a 3-node cluster whose routes speak TLS only, and PostgreSQL through TLS
//! with a verified server. Certificates are made by the test; everything runs on
//! 127.0.0.1.

#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod util;

use std::path::Path;
use std::time::Duration;

use util::fleet::{
    events_when_closed, fleet_config, read_side, read_side_refused, visit, wait_until, Collector,
    Nats, Postgres,
};
use util::Sensor;

#[test]
fn over_tls_a_sensor_ships_and_a_client_without_tls_is_refused() {
    let pg = Postgres::start();
    let certs = tempfile::tempdir().unwrap();
    util::test_certificates(certs.path());
    let p = |name: &str| certs.path().join(name).display().to_string();
    let nats = Nats::start_with(&format!(
        "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?} }}",
        p("server.pem"),
        p("server-key.pem"),
        p("ca.pem")
    ));
    let ca_config = format!("ca_file = {:?}\n", p("ca.pem"));
    let collector =
        Collector::start_with_config(&nats.url(), &pg.url(), &format!("[fleet]\n{ca_config}"));
    let sensor = Sensor::start_with(&format!("{}{ca_config}", fleet_config(&nats)));
    visit(&sensor, 1);
    let n = events_when_closed(&sensor, 1);
    wait_until("the session in PostgreSQL over TLS", || {
        pg.query("SELECT count(*) FROM events") == [n.to_string()]
    });
    // A client that will not speak TLS gets nowhere.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let plain = runtime.block_on(
        async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .connect(nats.url()),
    );
    assert!(plain.is_err(), "a plain client connected");
    assert!(
        nats.log().contains("TLS required for client connections"),
        "{}",
        nats.log()
    );
    drop(collector);
}

#[test]
fn a_cluster_whose_routes_and_clients_speak_only_tls_carries_a_sensors_events() {
    let pg = Postgres::start();
    let certs = tempfile::tempdir().unwrap();
    util::test_certificates(certs.path());
    let cluster = util::fleet::NatsCluster::start_with_tls(Some(certs.path()));
    let ca_config = format!(
        "ca_file = {:?}\n",
        certs.path().join("ca.pem").display().to_string()
    );
    let _collector = Collector::start_with(
        &cluster.urls(),
        &pg.url(),
        &["--replicas", "3", "--config", &{
            let path = certs.path().join("collect.toml");
            std::fs::write(&path, format!("[fleet]\n{ca_config}")).unwrap();
            path.display().to_string()
        }],
        &[],
    );
    let sensor = Sensor::start_with(&format!(
        "{}[fleet]\nurl = \"{}\"\n{ca_config}",
        util::test_config("oracle", "", ""),
        cluster.urls()
    ));
    visit(&sensor, 1);
    let n = events_when_closed(&sensor, 1);
    wait_until("the session in PostgreSQL through the TLS cluster", || {
        pg.query("SELECT count(*) FROM events") == [n.to_string()]
    });
    // Every route port speaks TLS before anything else: a plain connection gets not
    // one byte of the protocol and is dropped as a failed handshake.
    let probes: Vec<std::net::TcpStream> = cluster
        .route_ports
        .iter()
        .map(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).unwrap())
        .collect();
    for (mut probe, port) in probes.into_iter().zip(&cluster.route_ports) {
        probe
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut plain = Vec::new();
        let _ = std::io::Read::read_to_end(&mut probe, &mut plain);
        assert_eq!(plain, b"", "route port {port} spoke in the clear");
    }
    for node in &cluster.nodes {
        wait_until("the plain route refused", || {
            node.log()
                .contains("Router connection closed: TLS Handshake Failure")
        });
        // The routes the cluster formed with (three replicas of the stream) spoke it.
        assert!(node.log().contains("Route connection created"));
    }
}

/// The fleet's PostgreSQL taking TLS connections only: the collector writes and the
/// read side reads through `sslmode=verify-full&sslrootcert=…` (the CA the test
/// made); plain TCP is refused by the server, a server another CA signed by us, and
/// TLS without a CA to verify with is not attempted.
#[test]
fn postgres_over_tls_with_a_verified_server_and_nothing_else() {
    let certs = tempfile::tempdir().unwrap();
    util::test_certificates(certs.path());
    let pg = Postgres::start_tls(certs.path());
    let nats = Nats::start();
    let verified = |ca: &Path| {
        format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            pg.url(),
            ca.display()
        )
    };
    let url = verified(&certs.path().join("ca.pem"));
    let _collector = Collector::start(&nats.url(), &url);
    let sensor = Sensor::start_with(&fleet_config(&nats));
    visit(&sensor, 1);
    let n = events_when_closed(&sensor, 1);
    wait_until("every event in PostgreSQL", || {
        pg.query("SELECT count(*) FROM events") == [n.to_string()]
    });
    let dir = sensor.data_dir.path().to_str().unwrap();
    let sessions = ["sessions", "--json"];
    assert_eq!(read_side(&url, &sessions), read_side(dir, &sessions));
    let plain = read_side_refused(&pg.url(), &sessions);
    assert!(plain.contains("no encryption"), "{plain}");
    let other = tempfile::tempdir().unwrap();
    util::test_certificates(other.path());
    let unknown = read_side_refused(&verified(&other.path().join("ca.pem")), &sessions);
    assert!(unknown.contains("invalid peer certificate"), "{unknown}");
    let unverified = read_side_refused(&format!("{}?sslmode=require", pg.url()), &sessions);
    assert!(
        unverified.contains("needs sslrootcert=FILE"),
        "{unverified}"
    );
}
