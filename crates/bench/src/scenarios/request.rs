//! Request throughput: V virtual users each loop guest login → joinChat → postMessage →
//! getLastMessages → logout for `--duration`, as fast as the server answers (a closed loop).
//! Every non-200 answer or failed request is an error, counted per request kind.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use awc::Client;
use serde_json::json;

use super::{Ctx, Names, collect};
use crate::client::{Result, User, now_us};
use crate::pool::Pool;
use crate::report::{Row, Summary, round3};

pub struct Config {
    pub users: usize,
    pub duration: Duration,
}

const KINDS: [&str; 5] = [
    "login",
    "joinChat",
    "postMessage",
    "getLastMessages",
    "logout",
];

/// One virtual user's figures, per kind (in `KINDS` order).
#[derive(Default)]
struct Log {
    /// Latencies of the 200 answers, µs.
    latencies: [Vec<u64>; 5],
    errors: [u64; 5],
    /// A few error messages, to say what went wrong.
    samples: Vec<String>,
}

impl Log {
    fn record<T>(&mut self, kind: usize, started: u64, outcome: &Result<T>) -> bool {
        match outcome {
            Ok(_) => {
                self.latencies[kind].push(now_us().saturating_sub(started));
                true
            }
            Err(e) => {
                self.errors[kind] += 1;
                if self.samples.len() < 3 {
                    self.samples.push(e.to_string());
                }
                false
            }
        }
    }
}

pub async fn run(ctx: &Ctx, pool: &Pool, cfg: &Config) -> Result<Vec<Row>> {
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + cfg.duration;
    let mut tasks = Vec::with_capacity(cfg.users);
    for _ in 0..cfg.users {
        let (base, chat, names) = (
            Arc::clone(&ctx.base),
            Arc::clone(&ctx.chat),
            Arc::clone(&ctx.names),
        );
        tasks.push(pool.spawn(move |client| user_loop(client, base, chat, names, start, end)));
    }
    let (logs, failures) = collect(tasks, cfg.duration + Duration::from_secs(90)).await;
    let took = start.elapsed().as_secs_f64();
    let duration = cfg.duration.as_secs_f64();
    let mut rows = Vec::new();
    let mut all = Vec::new();
    let mut total_errors = 0;
    let mut kinds = serde_json::Map::new();
    for (k, kind) in KINDS.iter().enumerate() {
        let latencies: Vec<u64> = logs
            .iter()
            .flat_map(|l| l.latencies[k].iter().copied())
            .collect();
        let errors: u64 = logs.iter().map(|l| l.errors[k]).sum();
        let requests = latencies.len() as u64 + errors;
        all.extend_from_slice(&latencies);
        total_errors += errors;
        let latency = Summary::of(latencies);
        let mut row = Row::new("request", &ctx.server, kind, cfg.users);
        row.ops_per_s = Some(requests as f64 / duration);
        row.latency = latency;
        row.errors = errors;
        row.details = json!({
            "requests": requests,
            "requests_per_s": round3(requests as f64 / duration),
            "errors": errors,
            "latency_ms": latency.map(|l| l.json()),
        });
        kinds.insert((*kind).to_owned(), row.details.clone());
        rows.push(row);
    }
    let requests = all.len() as u64 + total_errors;
    let latency = Summary::of(all);
    let samples: Vec<&String> = logs.iter().flat_map(|l| &l.samples).take(5).collect();
    let mut overall = Row::new("request", &ctx.server, "overall", cfg.users);
    overall.ops_per_s = Some(requests as f64 / duration);
    overall.latency = latency;
    overall.errors = total_errors;
    overall.rss_kib = ctx.memory().map(|m| m.rss_kib);
    overall.details = json!({
        "users": cfg.users,
        "duration_s": duration,
        "took_s": took,
        "requests": requests,
        "requests_per_s": round3(requests as f64 / duration),
        "errors": total_errors,
        "error_samples": samples,
        "latency_ms": latency.map(|l| l.json()),
        "per_kind": kinds,
        "memory": ctx.memory().map(|m| m.json()),
    });
    if let Some(e) = failures.first() {
        overall.failure = Some(format!("{} virtual users failed: {e}", failures.len()));
    }
    rows.insert(0, overall);
    Ok(rows)
}

async fn user_loop(
    client: Rc<Client>,
    base: Arc<str>,
    chat: Arc<str>,
    names: Arc<Names>,
    start: Instant,
    end: Instant,
) -> Result<Log> {
    let base: Rc<str> = Rc::from(&*base);
    let mut log = Log::default();
    tokio::time::sleep_until(start.into()).await;
    while Instant::now() < end {
        let mut user = User::new(Rc::clone(&client), Rc::clone(&base), names.next("q"));
        let t = now_us();
        let outcome = user.login().await;
        if !log.record(0, t, &outcome) {
            // Do not spin on a failing server.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        let t = now_us();
        let outcome = user.join(&chat).await;
        if log.record(1, t, &outcome) {
            let t = now_us();
            let outcome = user.post(&chat, "hello").await;
            log.record(2, t, &outcome);
            let t = now_us();
            let outcome = user.get_last_messages(&chat).await;
            log.record(3, t, &outcome);
        }
        let t = now_us();
        let outcome = user.logout().await;
        log.record(4, t, &outcome);
    }
    Ok(log)
}
