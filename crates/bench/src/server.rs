//! Starting and stopping a `chatty-server` process for a measurement, and reading its memory.
//!
//! The process is owned by a guard: dropping it (normal end, error, panic, Ctrl-C) sends
//! SIGTERM, waits for the graceful shutdown and kills it if that takes too long, then drops
//! the scratch database. Each scenario gets a fresh server so that one scenario's sessions
//! and events do not weigh on the next one's figures.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use chatty_postgres::testing::TestDatabase;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::client::{Error, Result};

/// `EventRetentionCount` of the servers the bench starts.
pub const RETENTION: u64 = 200_000;

/// Which store the started server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Postgres,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres => "postgres",
        }
    }
}

/// The workspace root: two levels above this crate, taken lexically (not through `..`, which
/// would leave a symlinked crate directory on the wrong side).
pub fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(Path::parent)
        .unwrap_or(manifest)
        .to_path_buf()
}

/// The default `--server-bin`: the release build of this workspace.
pub fn default_binary() -> PathBuf {
    workspace().join("target/release/chatty-server")
}

/// Lines of the server's log kept for error messages.
const TAIL: usize = 40;

/// A running server started by the bench.
pub struct Server {
    child: Child,
    pub port: u16,
    tail: Arc<Mutex<VecDeque<String>>>,
    /// Dropped after the process is gone (the database is force-dropped).
    database: Option<TestDatabase>,
}

impl Server {
    /// Starts the binary on a random loopback port and waits for its `listening on` line.
    /// With `cpus`, the server runs on those CPUs only (`taskset -c`, which execs it: the
    /// pid is the server's).
    pub async fn start(kind: Kind, binary: &Path, chat: &str, cpus: Option<&str>) -> Result<Self> {
        if !binary.is_file() {
            return Err(Error::other(format!(
                "no server binary at {}: build it with `cargo build --release -p chatty-server` \
                 or pass --server-bin",
                binary.display()
            )));
        }
        let database = match kind {
            Kind::Memory => None,
            // TestDatabase panics when no Postgres can be had: a task turns that into an error.
            Kind::Postgres => Some(
                tokio::task::spawn_local(TestDatabase::new())
                    .await
                    .map_err(|e| Error::other(format!("no Postgres database: {e}")))?,
            ),
        };
        let mut command = match cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.arg("-c").arg(cpus).arg(binary);
                taskset
            }
            None => Command::new(binary),
        };
        command
            .env_remove("DATABASE_URL")
            .env_remove("SECRET_KEY")
            .env_remove("PORT")
            .env("CHATTY_SERVER_LISTEN_ADDRESS", "127.0.0.1:0")
            .env("CHATTY_CHATS", chat)
            // Enough retention that a receiver on the one-event-per-request poll, which the
            // posters outrun at saturation, catches up instead of being resynchronised (the
            // default keeps 10,000 events; a client further behind gets `ResyncEvent`).
            .env("CHATTY_EVENT_RETENTION_COUNT", RETENTION.to_string())
            // `listening on` (with the port) is logged at info by chatty_server.
            .env("RUST_LOG", "warn,chatty_server=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match &database {
            None => {
                command.arg("--dev");
            }
            Some(database) => {
                let secret: String = rand::rng()
                    .sample_iter(Alphanumeric)
                    .take(64)
                    .map(char::from)
                    .collect();
                command
                    .env("DATABASE_URL", database.url())
                    .env("SECRET_KEY", secret)
                    .env("CHATTY_MAIL_TRANSPORT", "log")
                    .env("CHATTY_MAIL_FROM", "bench@localhost")
                    // The bench speaks plain http: a Secure cookie would be fine for it, but
                    // not for a browser pointed at the same server during a run.
                    .env("CHATTY_COOKIE_SECURE", "false");
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| Error::other(format!("cannot start {}: {e}", binary.display())))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (ports, port_rx) = mpsc::channel();
        let streams: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ];
        for stream in streams.into_iter().flatten() {
            let (tail, ports) = (Arc::clone(&tail), ports.clone());
            // Reads to the end so the server never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stream)
                    .lines()
                    .map_while(std::result::Result::ok)
                {
                    if line.contains("listening on")
                        && let Some(port) = port_in(&line)
                    {
                        let _ = ports.send(port);
                    }
                    if let Ok(mut tail) = tail.lock() {
                        if tail.len() == TAIL {
                            tail.pop_front();
                        }
                        tail.push_back(line);
                    }
                }
            });
        }
        let mut server = Self {
            child,
            port: 0,
            tail,
            database,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(port) = port_rx.try_recv() {
                server.port = port;
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                // Let the readers catch the last lines.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Err(Error::other(format!(
                    "the server exited ({status}) before listening:\n{}",
                    server.log_tail()
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::other(format!(
                    "the server did not log `listening on` within 60 s:\n{}",
                    server.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        self.tail
            .lock()
            .map(|tail| tail.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if termed {
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(None) = self.child.try_wait() {
            eprintln!("chatty-bench: the server did not stop on SIGTERM within 15 s: killing it");
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        drop(self.database.take());
    }
}

/// The port in a `listening on` line: dev logs say `port=N`, JSON logs `"port":N`.
pub fn port_in(line: &str) -> Option<u16> {
    ["port=", "\"port\":"]
        .iter()
        .find_map(|key| line.split(key).nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
}

/// A process's resident memory, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// VmRSS: resident now.
    pub rss_kib: u64,
    /// VmHWM: the peak resident size so far.
    pub hwm_kib: u64,
}

impl Memory {
    pub fn of(pid: u32) -> Option<Self> {
        parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
    }

    pub fn json(self) -> serde_json::Value {
        serde_json::json!({ "rss_kib": self.rss_kib, "hwm_kib": self.hwm_kib })
    }
}

/// The CPU time a process's threads have used so far, in nanoseconds: the sum of the first
/// field of `/proc/<pid>/task/<tid>/schedstat` (time on a CPU, all threads; those that ended,
/// also while being read, are not counted, and the server's and the bench's threads live as
/// long as they do). `None` when the process is gone.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(
        tasks
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|schedstat| parse_schedstat(&schedstat))
            .sum(),
    )
}

/// The machine's CPU time so far, from the `cpu` line of `/proc/stat` (in clock ticks): all of
/// it, and the steal, the time its virtual CPUs wanted to run while the host ran something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineTicks {
    steal: u64,
    total: u64,
}

impl MachineTicks {
    pub fn now() -> Option<Self> {
        parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The share the host took from `before` (read with `now`) until now, rounded as every
    /// figure of the report; `None` where `/proc/stat` could not be read.
    pub fn stolen_since(before: Option<Self>) -> Option<f64> {
        before
            .zip(Self::now())
            .and_then(|(before, now)| now.steal_percent_since(before))
            .map(crate::report::round3)
    }

    /// The share of the CPU time since `before` that the host took (%): on a contended host
    /// the same code measures slower, and runs are not comparable.
    pub fn steal_percent_since(self, before: Self) -> Option<f64> {
        let total = self.total.checked_sub(before.total)?;
        let steal = self.steal.checked_sub(before.steal)?;
        (total > 0).then(|| steal as f64 * 100.0 / total as f64)
    }
}

fn parse_proc_stat(stat: &str) -> Option<MachineTicks> {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice; guest time is
    // already counted in user and nice.
    let fields: Vec<u64> = stat
        .lines()
        .find_map(|line| line.strip_prefix("cpu "))?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let steal = *fields.get(7)?;
    Some(MachineTicks {
        steal,
        total: fields.iter().take(8).sum(),
    })
}

fn parse_schedstat(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

fn parse_status(status: &str) -> Option<Memory> {
    let field = |name: &str| {
        status.lines().find_map(|line| {
            line.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_from_schedstat() {
        assert_eq!(parse_schedstat("1234567 890 12\n"), Some(1_234_567));
        assert_eq!(parse_schedstat(""), None);
        let own = cpu_ns(std::process::id()).expect("this process's threads");
        // Spin until the clock of this thread moves: the sum must grow.
        let spin = std::time::Instant::now();
        while spin.elapsed() < std::time::Duration::from_millis(20) {}
        assert!(cpu_ns(std::process::id()).unwrap() > own);
    }

    #[test]
    fn steal_from_proc_stat() {
        let before =
            parse_proc_stat("cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 50 0 25 400 5 0 0 20 0 0\n")
                .expect("parses");
        assert_eq!(
            before,
            MachineTicks {
                steal: 40,
                total: 1000
            }
        );
        let after = parse_proc_stat("cpu  200 0 70 1000 10 0 0 120 30 0\n").expect("parses");
        // 400 ticks went by, 80 of them stolen.
        assert_eq!(after.steal_percent_since(before), Some(20.0));
        assert_eq!(before.steal_percent_since(before), None);
        assert_eq!(parse_proc_stat("cpu0 1 2 3\n"), None);
        assert_eq!(parse_proc_stat("cpu  1 2 3\n"), None);
        assert!(MachineTicks::now().is_some(), "this machine's /proc/stat");
    }

    #[test]
    fn ports_from_both_log_formats() {
        assert_eq!(
            port_in("INFO chatty_server: listening on 127.0.0.1:4321 port=4321"),
            Some(4321)
        );
        assert_eq!(
            port_in(r#"{"level":"INFO","port":5555,"message":"listening on 127.0.0.1:5555"}"#),
            Some(5555)
        );
        assert_eq!(port_in("listening on 127.0.0.1:1"), None);
    }

    #[test]
    fn memory_from_proc_status() {
        let status = "Name:\tchatty-server\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(
            parse_status(status),
            Some(Memory {
                rss_kib: 10240,
                hwm_kib: 20480
            })
        );
        assert_eq!(parse_status("Name: x\n"), None);
    }
}
