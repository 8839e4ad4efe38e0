//! The files in deploy/ stay true to the server: the example production configuration loads
//! and passes the start-up checks with its secrets from the environment, and the server starts
//! with it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use chatty_server::cli::{Cli, Command};
use chatty_server::config::{MailTransport, Settings};
use common::{Server, run_to_end};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/config.toml")
}

#[test]
fn the_example_production_config_loads_and_passes_the_start_up_checks() {
    let cli = Cli {
        dev: false,
        config: example(),
        log_level: None,
        command: Command::Serve,
    };
    let env: HashMap<String, String> = [
        ("DATABASE_URL", "postgres://chatty:pw@db:5432/chatty"),
        ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ("SENDGRID_KEY", "SG.example"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let (settings, warnings) = Settings::load(&cli, &env).unwrap();
    assert!(warnings.is_empty(), "every key is known: {warnings:?}");
    assert!(!settings.dev && settings.cookie_secure);
    assert_eq!(settings.mail_transport, MailTransport::Smtp);
    assert_eq!(
        settings.public_url.as_deref(),
        Some("https://chat.example.org")
    );
    settings.validate_for_start().unwrap();
}

#[test]
fn the_server_starts_with_the_example_config_in_dev_mode() {
    let config = example();
    let mut server = Server::start(
        &["-dev", "-config", config.to_str().unwrap()],
        &[("CHATTY_MAIL_TRANSPORT", "log")],
    );
    server.port();
    assert!(server.terminate().success());
}

#[test]
fn the_example_config_without_secrets_refuses_to_start_with_one_line() {
    let config = example();
    let (code, output) = run_to_end(
        &["-config", config.to_str().unwrap()],
        &[
            ("DATABASE_URL", "postgres://chatty@127.0.0.1:1/chatty"),
            ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0"),
        ],
    );
    assert_ne!(code, 0);
    assert!(output.contains("SECRET_KEY"), "{output}");
}

fn deploy_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name)
}

/// The idle timeout of nginx's connections to the upstream (`keepalive_timeout` in the
/// `upstream chatty` block; nginx's default is 60 s).
fn nginx_upstream_idle_timeout(conf: &str) -> Duration {
    nginx_upstream_block(conf)
        .lines()
        .find_map(|l| l.trim().strip_prefix("keepalive_timeout "))
        .map_or(Duration::from_secs(60), |value| {
            let seconds = value.trim_end_matches(';').trim().trim_end_matches('s');
            Duration::from_secs(seconds.parse().expect("keepalive_timeout in seconds"))
        })
}

#[test]
fn nginx_closes_an_idle_upstream_connection_before_chatty_does() {
    let conf = std::fs::read_to_string(deploy_file("nginx.conf")).unwrap();
    let cli = Cli {
        dev: true,
        config: example(),
        log_level: None,
        command: Command::Serve,
    };
    let (settings, _) = Settings::load(&cli, &HashMap::new()).unwrap();
    let nginx = nginx_upstream_idle_timeout(&conf);
    assert!(
        settings.keep_alive > nginx,
        "chatty's KeepAliveTimeout ({:?}) must be longer than nginx's upstream \
         keepalive_timeout ({nginx:?})",
        settings.keep_alive
    );
}

/// nginx, installed with apt-get on a bare Debian machine when this process may do so.
fn nginx() -> PathBuf {
    common::debian_program("nginx", "nginx")
        .unwrap_or_else(|| panic!("checking deploy/nginx.conf needs nginx: apt-get install nginx"))
}

/// The inside of deploy/nginx.conf's `upstream chatty` block.
fn nginx_upstream_block(conf: &str) -> &str {
    conf.split("upstream chatty {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("nginx.conf has an `upstream chatty` block")
}

/// The upstream servers of deploy/nginx.conf, as `host:port`.
fn nginx_upstreams(conf: &str) -> Vec<String> {
    nginx_upstream_block(conf)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .map(|s| s.trim_end_matches(';').trim().to_owned())
        .collect()
}

/// `nginx -t` on the compose file's nginx configuration, inside a minimal main configuration
/// as the nginx image provides. The compose service names resolve only inside compose's
/// network, so the test copy points them at 127.0.0.1; everything else is checked as is.
#[test]
fn the_load_balancer_configuration_passes_nginx_t() {
    let nginx = nginx();
    let conf = std::fs::read_to_string(deploy_file("nginx.conf")).unwrap();
    let upstreams = nginx_upstreams(&conf);
    assert_eq!(upstreams, ["chatty-a:8080", "chatty-b:8080"]);
    let mut local = conf.clone();
    for upstream in &upstreams {
        let port = upstream.rsplit(':').next().unwrap();
        local = local.replace(upstream.as_str(), &format!("127.0.0.1:{port}"));
    }
    let dir = common::temp_file("nginx-check", "");
    std::fs::remove_file(&dir).ok();
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::write(dir.join("chatty.conf"), local).unwrap();
    let main = format!(
        "pid {dir}/nginx.pid;\nerror_log {dir}/logs/error.log;\nevents {{}}\n\
         http {{\n  access_log off;\n  client_body_temp_path {dir};\n  proxy_temp_path {dir};\n  \
         include {dir}/chatty.conf;\n}}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let out = std::process::Command::new(nginx)
        .args(["-t", "-p"])
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t failed:\n{said}");
    assert!(said.contains("syntax is ok"), "{said}");
    std::fs::remove_dir_all(&dir).ok();
}

/// deploy/compose.yaml as JSON, parsed by Python's YAML library (there is no Docker engine
/// to run `docker compose config` here).
fn compose() -> serde_json::Value {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(deploy_file("compose.yaml"))
        .output()
        .expect("checking deploy/compose.yaml needs python3 with PyYAML");
    assert!(
        out.status.success(),
        "deploy/compose.yaml does not parse as YAML (or PyYAML is missing: pip install pyyaml):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_compose_file_wires_postgres_two_instances_and_the_load_balancer() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    let conf = std::fs::read_to_string(deploy_file("nginx.conf")).unwrap();

    // Every upstream of the load balancer is a chatty service of this file.
    for upstream in nginx_upstreams(&conf) {
        let name = upstream.split(':').next().unwrap();
        let service = &services
            .get(name)
            .unwrap_or_else(|| panic!("nginx upstream {name} is not a compose service"));
        assert_eq!(service["build"]["dockerfile"], "deploy/Dockerfile");
        let env = &service["environment"];
        for key in ["DATABASE_URL", "SECRET_KEY", "SENDGRID_KEY"] {
            assert!(env[key].is_string(), "{name} sets {key}");
        }
        let db = env["DATABASE_URL"].as_str().unwrap();
        assert!(db.contains("@db:5432/"), "{name} uses the db service: {db}");
        assert_eq!(
            service["depends_on"]["db"]["condition"], "service_healthy",
            "{name} waits for Postgres"
        );
    }
    assert!(services["db"]["healthcheck"]["test"].is_array());

    let proxy = services
        .values()
        .find(|s| s["image"].as_str().is_some_and(|i| i.starts_with("nginx")))
        .expect("an nginx service");
    let volumes: Vec<&str> = proxy["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        volumes.iter().any(|v| v.starts_with("./nginx.conf:")),
        "the proxy mounts deploy/nginx.conf: {volumes:?}"
    );
    assert!(
        deploy_file("nginx.conf").is_file() && deploy_file("Dockerfile").is_file(),
        "the files compose refers to exist"
    );
}

#[test]
fn the_image_is_multi_stage_runs_unprivileged_and_carries_the_web_client() {
    let dockerfile = std::fs::read_to_string(deploy_file("Dockerfile")).unwrap();
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "a build stage and a runtime stage");
    let user = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    let static_copy = dockerfile
        .lines()
        .find(|l| l.starts_with("COPY static/"))
        .expect("the web client is copied into the image");
    let target = static_copy.split_whitespace().last().unwrap();
    assert!(
        dockerfile.contains(&format!(
            "CHATTY_STATIC_DIR={}",
            target.trim_end_matches('/')
        )),
        "the server serves the directory the client was copied to"
    );
    // Everything the image copies from the repository exists.
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let source = line.split_whitespace().nth(1).unwrap();
        if source != "." {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .join(source);
            assert!(path.exists(), "{source} exists");
        }
    }
}
