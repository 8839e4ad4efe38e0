//! `chatty-bench`: a load generator for the chatty HTTP API (docs/benchmark.md).
//!
//! It measures a server on 127.0.0.1, either one it starts itself (memory or Postgres store,
//! stopped again after each scenario) or one already running (`--url`), prints a table and
//! writes every figure to a JSON file. The exit code is non-zero when a scenario failed or
//! lost (or duplicated) events.

#![allow(clippy::print_stdout, reason = "the report is printed on stdout")]

/// The generator shares the machine with the server and must not be what limits a run: under
/// the system allocator, malloc and free were 14 % of its profile in the compatible-poll
/// fan-out (an awc request and response per event per receiver); with jemalloc the same
/// server was measured at 55,000-71,000 instead of 45,000 deliveries/s (docs/benchmark.md).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod client;
mod pin;
mod pool;
mod report;
mod scenarios;
mod server;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::client::{Error, Result, new_client};
use crate::pool::Pool;
use crate::report::Row;
use crate::scenarios::{Ctx, Delivery, Names, fanout, idle, request};
use crate::server::{Kind, Server};

const HELP: &str = "\
chatty-bench: load generator for the chatty HTTP API (on 127.0.0.1 only)

USAGE: chatty-bench [FLAGS]

Server (one of):
  --server memory|postgres|both   start target/release/chatty-server per scenario, in-memory
                                  store (dev mode) and/or a fresh Postgres database [both]
  --url http://127.0.0.1:PORT     measure a server that is already running instead
  --server-bin PATH               the server binary to start [<workspace>/target/release/chatty-server]
  --server-pid PID                with --url: the process whose memory (VmRSS, VmHWM) to report
  --chat NAME                     the chat to use; must exist on the server [Main]

Scenarios:
  --scenario fanout|idle|request|all   comma-separated list allowed [all]
  --threads N                     worker threads running the virtual users [number of cores
                                  the bench runs on]
  --pin auto|off                  auto: a server the bench starts runs on the first half of
                                  the cores, the bench on the rest (taskset) [auto]
  --ready-timeout S               bound on logging in, joining and getting ready [600]

  fanout: receivers in one chat, posters posting; saturating rate, then 50 % of it
  --clients LIST                  receivers, comma-separated; one run each [100,1000]
  --posters N                     posting users [4]
  --delivery poll|sse|both        how receivers get events [both]
  --duration S                    posting time per phase (also the request scenario's) [10]
  --drain S                       time receivers get after the posters stop [5]
  --rate N                        one phase at N posts/s in total instead of saturate + 50 %

  idle: clients each holding a waiting poll or stream; RSS and time for one message to all
  --idle-clients N                [10000]
  --idle-delivery poll|sse|both   [both]

  request: users looping login, joinChat, postMessage, getLastMessages, logout
  --users N                       [50]

Output:
  --out PATH                      JSON with every figure [target/bench/bench-<unix-seconds>.json]
  --help                          this text
";

/// Which servers to measure.
#[derive(Debug, Clone)]
enum Target {
    Started(Kind),
    External { url: String, pid: Option<u32> },
}

impl Target {
    fn label(&self) -> String {
        match self {
            Self::Started(kind) => kind.name().to_owned(),
            Self::External { url, .. } => url.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Fanout,
    Idle,
    Request,
}

#[derive(Debug)]
struct Args {
    targets: Vec<Target>,
    server_bin: PathBuf,
    chat: String,
    scenarios: Vec<Scenario>,
    threads: usize,
    threads_given: bool,
    pin: bool,
    /// The CPUs of the servers the bench starts, when it splits the cores.
    server_cpus: Option<String>,
    ready_timeout: Duration,
    clients: Vec<usize>,
    posters: usize,
    delivery: Vec<Delivery>,
    duration: Duration,
    drain: Duration,
    rate: Option<f64>,
    idle_clients: usize,
    idle_delivery: Vec<Delivery>,
    users: usize,
    out: Option<PathBuf>,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{flag}: not a number: {value:?}"))
}

fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    let s: f64 = number(flag, value)?;
    if !(s > 0.0 && s < 86_400.0) {
        return Err(format!("{flag}: must be between 0 and 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn deliveries(flag: &str, value: &str) -> Result<Vec<Delivery>, String> {
    match value {
        "poll" => Ok(vec![Delivery::Poll]),
        "sse" => Ok(vec![Delivery::Sse]),
        "both" => Ok(vec![Delivery::Poll, Delivery::Sse]),
        _ => Err(format!("{flag}: poll, sse or both, not {value:?}")),
    }
}

impl Args {
    /// `None` for `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut a = Self {
            targets: vec![
                Target::Started(Kind::Memory),
                Target::Started(Kind::Postgres),
            ],
            server_bin: server::default_binary(),
            chat: "Main".into(),
            scenarios: vec![Scenario::Fanout, Scenario::Idle, Scenario::Request],
            threads: cores(),
            threads_given: false,
            pin: true,
            server_cpus: None,
            // 10,000 idle clients on Postgres took up to 230 s to log in and join on a
            // machine whose host took a third of its CPU time.
            ready_timeout: Duration::from_secs(600),
            clients: vec![100, 1000],
            posters: 4,
            delivery: vec![Delivery::Poll, Delivery::Sse],
            duration: Duration::from_secs(10),
            drain: Duration::from_secs(5),
            rate: None,
            idle_clients: 10_000,
            idle_delivery: vec![Delivery::Poll, Delivery::Sse],
            users: 50,
            out: None,
        };
        let (mut url, mut pid, mut kinds) = (None, None, None);
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(None);
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg.clone(), None),
            };
            let flag = flag.as_str();
            let value = match inline.or_else(|| args.next()) {
                Some(value) => value,
                None => return Err(format!("{flag}: needs a value")),
            };
            let value = value.as_str();
            match flag {
                "--url" => {
                    let given = value.trim_end_matches('/');
                    let port = given.strip_prefix("http://127.0.0.1:").ok_or_else(|| {
                        "--url: only http://127.0.0.1:PORT is measured".to_owned()
                    })?;
                    number::<u16>("--url port", port)?;
                    url = Some(given.to_owned());
                }
                "--server" => {
                    kinds = Some(match value {
                        "memory" => vec![Kind::Memory],
                        "postgres" => vec![Kind::Postgres],
                        "both" => vec![Kind::Memory, Kind::Postgres],
                        _ => {
                            return Err(format!(
                                "--server: memory, postgres or both, not {value:?}"
                            ));
                        }
                    });
                }
                "--server-bin" => a.server_bin = value.into(),
                "--server-pid" => pid = Some(number(flag, value)?),
                "--chat" => a.chat = value.to_owned(),
                "--scenario" => {
                    let mut list = Vec::new();
                    for name in value.split(',').map(str::trim) {
                        match name {
                            "fanout" => list.push(Scenario::Fanout),
                            "idle" => list.push(Scenario::Idle),
                            "request" => list.push(Scenario::Request),
                            "all" => {
                                list.extend([Scenario::Fanout, Scenario::Idle, Scenario::Request])
                            }
                            _ => {
                                return Err(format!(
                                    "--scenario: fanout, idle, request or all, not {name:?}"
                                ));
                            }
                        }
                    }
                    list.dedup();
                    a.scenarios = list;
                }
                "--threads" => {
                    a.threads = number(flag, value)?;
                    a.threads_given = true;
                }
                "--pin" => {
                    a.pin = match value {
                        "auto" => true,
                        "off" => false,
                        _ => return Err(format!("--pin: auto or off, not {value:?}")),
                    }
                }
                "--ready-timeout" => a.ready_timeout = seconds(flag, value)?,
                "--clients" => {
                    a.clients = value
                        .split(',')
                        .map(|n| number(flag, n))
                        .collect::<Result<_, _>>()?;
                }
                "--posters" => a.posters = number(flag, value)?,
                "--delivery" => a.delivery = deliveries(flag, value)?,
                "--duration" => a.duration = seconds(flag, value)?,
                "--drain" => a.drain = seconds(flag, value)?,
                "--rate" => {
                    let rate: f64 = number(flag, value)?;
                    if rate.is_nan() || rate <= 0.0 {
                        return Err("--rate: must be above 0".into());
                    }
                    a.rate = Some(rate);
                }
                "--idle-clients" => a.idle_clients = number(flag, value)?,
                "--idle-delivery" => a.idle_delivery = deliveries(flag, value)?,
                "--users" => a.users = number(flag, value)?,
                "--out" => a.out = Some(value.into()),
                _ => return Err(format!("unknown flag {flag}")),
            }
        }
        match (url, kinds) {
            (Some(_), Some(_)) => return Err("--url and --server exclude each other".into()),
            (Some(url), None) => a.targets = vec![Target::External { url, pid }],
            (None, Some(kinds)) => a.targets = kinds.into_iter().map(Target::Started).collect(),
            (None, None) => {}
        }
        if pid.is_some() && !matches!(a.targets.first(), Some(Target::External { .. })) {
            return Err("--server-pid goes with --url".into());
        }
        if a.threads == 0 || a.posters == 0 || a.users == 0 || a.idle_clients == 0 {
            return Err("--threads, --posters, --users and --idle-clients must be above 0".into());
        }
        if a.clients.contains(&0) {
            return Err("--clients: every count must be above 0".into());
        }
        Ok(Some(a))
    }
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut args = match Args::parse(argv.clone()) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("chatty-bench: {e} (--help lists the flags)");
            return ExitCode::from(2);
        }
    };
    let machine_cores = cores();
    let split = pin_cores(&mut args);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the coordinator's tokio runtime starts");
    let local = tokio::task::LocalSet::new();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let clock = Instant::now();
    let ticks = server::MachineTicks::now();
    client::now_us(); // the epoch of every time stamp
    let names = Arc::new(Names::new(&run_id(started)));
    // Ctrl-C drops the run: the server guards stop what was started.
    let rows = local.block_on(&runtime, async {
        tokio::select! {
            rows = run(&args, names) => Some(rows),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let Some(rows) = rows else {
        eprintln!("chatty-bench: interrupted; servers stopped, nothing written");
        return ExitCode::from(130);
    };
    println!("{}", report::table(&rows));
    let steal = server::MachineTicks::stolen_since(ticks);
    if let Some(steal) = steal.filter(|&steal| steal >= STEAL_WARNING_PERCENT) {
        eprintln!(
            "chatty-bench: the host took {steal:.0} % of this machine's CPU time (steal): the \
             figures are not comparable with runs on an uncontended machine"
        );
    }
    let ok = rows.iter().all(Row::ok);
    let out = args.out.clone().unwrap_or_else(|| {
        server::workspace()
            .join("target/bench")
            .join(format!("bench-{started}.json"))
    });
    let document = json!({
        "tool": "chatty-bench",
        "started_unix_s": started,
        "took_s": report::round3(clock.elapsed().as_secs_f64()),
        "arguments": argv,
        "cores": machine_cores,
        "steal_percent": steal,
        "threads": args.threads,
        "pinning": split.as_ref().map(|s| json!({ "server_cpus": s.server, "bench_cpus": s.bench })),
        "commit": commit(),
        "targets": args.targets.iter().map(|t| match t {
            Target::Started(kind) => json!({
                "kind": kind.name(),
                "started_by_bench": true,
                "event_retention_count": server::RETENTION,
            }),
            Target::External { url, pid } => json!({ "kind": "external", "url": url, "pid": pid }),
        }).collect::<Vec<_>>(),
        "ok": ok,
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
    });
    let written = out
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            let text = serde_json::to_string_pretty(&document).unwrap_or_default();
            std::fs::write(&out, text + "\n")
        });
    match written {
        Ok(()) => eprintln!("chatty-bench: figures written to {}", out.display()),
        Err(e) => {
            eprintln!("chatty-bench: cannot write {}: {e}", out.display());
            return ExitCode::FAILURE;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("chatty-bench: a scenario failed or lost events");
        ExitCode::FAILURE
    }
}

/// Above this share of stolen CPU time a run says that its figures are not comparable.
const STEAL_WARNING_PERCENT: f64 = 5.0;

/// A short run id for the guest names, unique enough across runs against one server.
fn run_id(started: u64) -> String {
    let mut n = (started % 1_000_000) * 100_000 + u64::from(std::process::id() % 100_000);
    let mut id = String::new();
    while n > 0 {
        let digit = u32::try_from(n % 36).unwrap_or(0);
        id.push(char::from_digit(digit, 36).unwrap_or('0'));
        n /= 36;
    }
    id
}

/// `git rev-parse HEAD` in the workspace, or `unknown`.
fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(server::workspace())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".into(), |s| s.trim().to_owned())
}

/// Every scenario on every target; a scenario that fails is a failed row, never the end.
async fn run(args: &Args, names: Arc<Names>) -> Vec<Row> {
    let client = Rc::new(new_client());
    let mut rows = Vec::new();
    for target in &args.targets {
        for &scenario in &args.scenarios {
            match scenario {
                Scenario::Fanout => {
                    for &clients in &args.clients {
                        for &delivery in &args.delivery {
                            let cfg = fanout::Config {
                                clients,
                                posters: args.posters,
                                delivery,
                                duration: args.duration,
                                drain: args.drain,
                                rate: args.rate,
                                ready_timeout: args.ready_timeout,
                            };
                            let what = format!("fanout {delivery} {clients} clients");
                            let result =
                                measure(args, target, &client, &names, &what, async |ctx, pool| {
                                    fanout::run(ctx, pool, &cfg).await
                                })
                                .await;
                            rows.extend(result.unwrap_or_else(|e| {
                                vec![
                                    Row::new(
                                        "fanout",
                                        &target.label(),
                                        &delivery.to_string(),
                                        clients,
                                    )
                                    .failed(e.to_string()),
                                ]
                            }));
                        }
                    }
                }
                Scenario::Idle => {
                    let cfg = idle::Config {
                        clients: args.idle_clients,
                        variants: args.idle_delivery.clone(),
                        ready_timeout: args.ready_timeout,
                    };
                    let what = format!("idle {} clients", cfg.clients);
                    let result =
                        measure(args, target, &client, &names, &what, async |ctx, pool| {
                            idle::run(ctx, pool, &cfg).await
                        })
                        .await;
                    rows.extend(result.unwrap_or_else(|e| {
                        vec![
                            Row::new("idle", &target.label(), "all", args.idle_clients)
                                .failed(e.to_string()),
                        ]
                    }));
                }
                Scenario::Request => {
                    let cfg = request::Config {
                        users: args.users,
                        duration: args.duration,
                    };
                    let what = format!("request {} users", cfg.users);
                    let result =
                        measure(args, target, &client, &names, &what, async |ctx, pool| {
                            request::run(ctx, pool, &cfg).await
                        })
                        .await;
                    rows.extend(result.unwrap_or_else(|e| {
                        vec![
                            Row::new("request", &target.label(), "overall", args.users)
                                .failed(e.to_string()),
                        ]
                    }));
                }
            }
        }
    }
    rows
}

/// Splits the cores between the servers the bench starts and the bench itself (see `pin`),
/// unless `--pin off`, the server is not the bench's, or there are fewer than two cores.
fn pin_cores(args: &mut Args) -> Option<pin::Split> {
    let starts_servers = args.targets.iter().any(|t| matches!(t, Target::Started(_)));
    if !args.pin || !starts_servers {
        return None;
    }
    let split = pin::allowed().as_deref().and_then(pin::split)?;
    if let Err(e) = pin::pin_self(&split.bench) {
        eprintln!("chatty-bench: not pinning ({e}): the server and the bench share the cores");
        return None;
    }
    if !args.threads_given {
        args.threads = split.bench_cores;
    }
    args.server_cpus = Some(split.server.clone());
    eprintln!(
        "chatty-bench: servers run on CPU {}, the bench on CPU {} ({} threads)",
        split.server, split.bench, args.threads
    );
    Some(split)
}

/// Runs one scenario against a target: starts the server if the bench owns it (and stops it
/// after, whatever happens), and gives the scenario a fresh pool of worker threads.
async fn measure(
    args: &Args,
    target: &Target,
    client: &Rc<awc::Client>,
    names: &Arc<Names>,
    what: &str,
    scenario: impl AsyncFnOnce(&Ctx, &Pool) -> Result<Vec<Row>>,
) -> Result<Vec<Row>> {
    let began = Instant::now();
    eprintln!("chatty-bench: {} / {what}", target.label());
    let (server, base, pid) = match target {
        Target::Started(kind) => {
            let cpus = args.server_cpus.as_deref();
            let server = Server::start(*kind, &args.server_bin, &args.chat, cpus).await?;
            let (url, pid) = (server.url(), server.pid());
            ready(client, &url)
                .await
                .map_err(|e| Error::other(format!("{e}\nserver log:\n{}", server.log_tail())))?;
            (Some(server), url, Some(pid))
        }
        Target::External { url, pid } => (None, url.clone(), *pid),
    };
    let ctx = Ctx {
        base: Arc::from(base),
        chat: Arc::from(args.chat.as_str()),
        server: target.label(),
        pid,
        cleanup: server.is_none(),
        names: Arc::clone(names),
        client: Rc::clone(client),
    };
    let pool = Pool::new(args.threads)?;
    let ticks = server::MachineTicks::now();
    let mut result = scenario(&ctx, &pool).await;
    if let Ok(rows) = &mut result {
        report::note_steal(rows, server::MachineTicks::stolen_since(ticks));
    }
    // The virtual users go before the server does.
    drop(pool);
    if let (Err(e), Some(server)) = (&result, &server) {
        eprintln!(
            "chatty-bench:   failed: {e}\n  server log, last lines:\n{}",
            server.log_tail()
        );
    }
    drop(server);
    eprintln!(
        "chatty-bench:   took {:.1} s",
        began.elapsed().as_secs_f64()
    );
    result
}

/// Waits for `GET /healthz` to answer 200.
async fn ready(client: &awc::Client, base: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let last = match client.get(format!("{base}/healthz")).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("HTTP {}", response.status()),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(Error::other(format!(
                "{base}/healthz did not answer 200 within 20 s: {last}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
