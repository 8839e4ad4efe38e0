//! Running the `chatty-server` binary as an operator would, for the process-level tests.

#![allow(dead_code, reason = "each test crate uses part of these helpers")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chatty_server::cli::{Cli, Command as CliCommand};
use chatty_server::config::Settings;

pub const BIN: &str = env!("CARGO_BIN_EXE_chatty-server");

/// A server process whose log lines are collected as they come.
pub struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("DATABASE_URL")
            .env_remove("SECRET_KEY")
            .env_remove("RUST_LOG")
            .env_remove("_RJEM_MALLOC_CONF")
            .env("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0")
            .env("CHATTY_BCRYPT_COST", "4")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("the binary starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first log line containing `needle`, waiting up to 20 s for it.
    pub fn wait_for(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no log line with {needle:?}; seen: {:#?}", self.seen);
    }

    pub fn port(&mut self) -> u16 {
        let line = self.wait_for("listening on");
        // Dev logs say `port=N`, production JSON logs `"port":N`.
        let port = ["port=", "\"port\":"]
            .iter()
            .find_map(|key| line.split(key).nth(1))
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok());
        port.unwrap_or_else(|| panic!("no port in {line:?}"))
    }

    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to completion and returns its exit code and everything it printed.
pub fn run_to_end(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("SECRET_KEY")
        .env("CHATTY_BCRYPT_COST", "4")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let output = command.output().expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("chatty-{}-{name}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path
}

pub async fn send(
    client: &awc::Client,
    method: &str,
    url: &str,
    cookie: Option<&str>,
    body: &str,
) -> (u16, String, Option<String>) {
    let method = awc::http::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, url);
    if let Some(cookie) = cookie {
        request = request.insert_header(("Cookie", cookie.to_owned()));
    }
    let mut response = request.send_body(body.to_owned()).await.unwrap();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    let bytes = response.body().await.unwrap();
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&bytes).into_owned(),
        set_cookie,
    )
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Settings for a server started in-process: dev defaults, a random loopback port, the cheapest
/// bcrypt, 2 s polls, then `env` (any `CHATTY_*`, `DATABASE_URL`, `SECRET_KEY`, …).
pub fn settings(env: &[(&str, &str)]) -> Settings {
    let cli = Cli {
        dev: true,
        config: "/nonexistent/chatty.toml".into(),
        log_level: None,
        command: CliCommand::Serve,
    };
    let defaults = [
        ("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0"),
        ("CHATTY_BCRYPT_COST", "4"),
        ("CHATTY_RESPONSE_TIMEOUT", "2s"),
    ];
    let vars = defaults
        .iter()
        .chain(env)
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::load(&cli, &vars).expect("test settings load").0
}

/// `program` on the path (or in /usr/sbin), else Debian's `package` installed with apt-get
/// when this process runs as root on a machine that has apt-get; `None` if neither works.
pub fn debian_program(program: &str, package: &str) -> Option<PathBuf> {
    let on_path = || {
        let paths = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    };
    if let Some(path) = on_path() {
        return Some(path);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return None;
    }
    eprintln!("no {program} found: installing Debian's {package} with apt-get");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let installed = apt(&["install", "-y", "-qq", package])
        || (apt(&["update", "-qq"]) && apt(&["install", "-y", "-qq", package]));
    if installed { on_path() } else { None }
}
