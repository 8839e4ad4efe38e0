//! Fan-out: C receivers in one chat, P posters posting; how fast messages are accepted and
//! delivered, how late, and whether any receiver missed one.
//!
//! Receivers are set up once and measured in two phases: posters as fast as the server
//! answers (the saturating rate), then at a fixed rate of half of it (or `--rate`), where the
//! latency says what a user would see on a busy but not overloaded server.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use awc::Client;
use serde_json::json;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

use super::{
    Ctx, Delivery, Errors, KEEPALIVE_EVERY, SETUP_CONCURRENCY, collect, keeping_alive,
    keeping_alive_every, log_in_and_join, wait_until,
};
use crate::client::{Envelope, Error, Result, User, now_us};
use crate::pool::Pool;
use crate::report::{Row, Summary, round3, tally};
use crate::server::MachineTicks;

pub struct Config {
    pub clients: usize,
    pub posters: usize,
    pub delivery: Delivery,
    pub duration: Duration,
    pub drain: Duration,
    /// A fixed total post rate instead of "saturate, then half of it".
    pub rate: Option<f64>,
    /// How long logging in, joining and receiving the sentinel may take.
    pub ready_timeout: Duration,
}

/// One receiver's log: `(message id, receive µs)`, taken by the coordinator after each phase.
type Log = Arc<Mutex<Vec<(u64, u64)>>>;

#[derive(Default)]
struct Shared {
    joined: AtomicUsize,
    /// The current synchronisation round: its message is `<sentinel> <round>`.
    round: AtomicU64,
    /// Receivers that got the current round's message (everything before it, too: events
    /// are totally ordered).
    synced: AtomicUsize,
    /// Messages logged by all receivers (for the early end of the drain).
    received: AtomicU64,
    resyncs: AtomicU64,
    reconnects: AtomicU64,
    /// Receivers' failed polls or streams (retried).
    errors: Errors,
    /// Virtual users that could not log in or join.
    setup_failures: Errors,
    /// Set-up steps answered 503 or cut off, and tried again.
    setup_retries: Errors,
}

/// What a poster does in one phase.
struct Phase {
    start: Instant,
    end: Instant,
    /// Time between two posts of this poster; `None`: as fast as the server answers.
    period: Option<Duration>,
    offset: Duration,
    reply: oneshot::Sender<PosterLog>,
}

#[derive(Default)]
struct PosterLog {
    /// `(message id, accept µs)`.
    accepted: Vec<(u64, u64)>,
    errors: u64,
    first_error: Option<String>,
}

/// What every virtual user task needs.
#[derive(Clone)]
struct Common {
    base: Arc<str>,
    chat: Arc<str>,
    shared: Arc<Shared>,
    setup: Arc<Semaphore>,
    stop: watch::Receiver<bool>,
    cleanup: bool,
}

impl Common {
    /// Logs in and joins, a limited number at a time; the join's `Chatty-Event-Id`.
    async fn enter(&self, client: Rc<Client>, name: String) -> Result<(User, Option<u64>)> {
        let mut user = User::new(client, Rc::from(&*self.base), name);
        let entered = async {
            let _permit = self
                .setup
                .acquire()
                .await
                .map_err(|_| Error::other("set-up cancelled"))?;
            log_in_and_join(&mut user, &self.chat, &self.shared.setup_retries).await
        }
        .await;
        match entered {
            Ok(after) => {
                self.shared.joined.fetch_add(1, Ordering::SeqCst);
                Ok((user, after))
            }
            Err(e) => {
                self.shared.setup_failures.note(&e);
                Err(e)
            }
        }
    }
}

pub async fn run(ctx: &Ctx, pool: &Pool, cfg: &Config) -> Result<Vec<Row>> {
    let set_up = Instant::now();
    let (stop_tx, stop) = watch::channel(false);
    let common = Common {
        base: Arc::clone(&ctx.base),
        chat: Arc::clone(&ctx.chat),
        shared: Arc::new(Shared::default()),
        setup: Arc::new(Semaphore::new(SETUP_CONCURRENCY)),
        stop,
        cleanup: ctx.cleanup,
    };
    let shared = Arc::clone(&common.shared);
    let sentinel: Arc<str> = Arc::from(format!("sentinel {}", ctx.names.next("s")));

    // The coordinator joins first, so that the receivers' backlogs do not include it.
    let mut coordinator = ctx.user("c");
    coordinator.login().await?;
    coordinator.join(&ctx.chat).await?;

    let mut logs: Vec<Log> = Vec::with_capacity(cfg.clients);
    let mut receivers = Vec::with_capacity(cfg.clients);
    for _ in 0..cfg.clients {
        let log = Log::default();
        logs.push(Arc::clone(&log));
        let (common, sentinel, name) = (common.clone(), Arc::clone(&sentinel), ctx.names.next("r"));
        let delivery = cfg.delivery;
        receivers.push(pool.spawn(move |client| async move {
            receiver(client, common, name, delivery, sentinel, log).await
        }));
    }
    let mut posters = Vec::with_capacity(cfg.posters);
    let mut phases = Vec::with_capacity(cfg.posters);
    for _ in 0..cfg.posters {
        let (tx, rx) = mpsc::unbounded_channel();
        phases.push(tx);
        let (common, name) = (common.clone(), ctx.names.next("p"));
        posters.push(pool.spawn(move |client| poster(client, common, name, rx)));
    }

    let users = cfg.clients + cfg.posters;
    let all_joined = wait_until(cfg.ready_timeout, || {
        shared.joined.load(Ordering::SeqCst) == users || shared.setup_failures.count() > 0
    });
    let joined = keeping_alive(&mut coordinator, &shared.errors, all_joined).await;
    if !joined || shared.setup_failures.count() > 0 {
        return Err(Error::other(format!(
            "{} of {users} virtual users logged in and joined within {} s{}",
            shared.joined.load(Ordering::SeqCst),
            cfg.ready_timeout.as_secs(),
            shared.setup_failures.suffix()
        )));
    }
    let joined_s = set_up.elapsed().as_secs_f64();
    let mut sync = Rounds {
        coordinator,
        sentinel: Arc::clone(&sentinel),
        shared: Arc::clone(&shared),
        clients: cfg.clients,
        next: 0,
        keepalive_every: KEEPALIVE_EVERY,
    };
    let left = cfg.ready_timeout.saturating_sub(set_up.elapsed());
    if !sync.round(0, &ctx.chat, left).await? {
        return Err(Error::other(format!(
            "only {} of {} receivers got the sentinel message within --ready-timeout {} s \
             (each first drains its backlog of login and join events){}",
            shared.synced.load(Ordering::SeqCst),
            cfg.clients,
            cfg.ready_timeout.as_secs(),
            shared.errors.suffix()
        )));
    }
    let ready_s = set_up.elapsed().as_secs_f64();
    eprintln!(
        "chatty-bench:   {} receivers ready in {ready_s:.1} s (joined in {joined_s:.1} s)",
        cfg.clients
    );

    let setup = json!({
        "joined_s": joined_s,
        "ready_s": ready_s,
        "retried": shared.setup_retries.count(),
        "first_retry": shared.setup_retries.first(),
    });
    let mut rows = Vec::new();
    let fixed = match cfg.rate {
        Some(rate) => Some(rate),
        None => {
            let row = phase(ctx, cfg, &mut sync, &logs, &phases, None, &setup).await?;
            // Saturation is whichever gives first: the posts the server accepts, or the
            // posts its receivers are sent in time (one event per request on the legacy poll).
            let accepted = row.ops_per_s.unwrap_or(0.0);
            let delivered = row.delivered_per_s.unwrap_or(0.0) / cfg.clients.max(1) as f64;
            rows.push(row);
            Some(accepted.min(delivered) / 2.0)
        }
    };
    if let Some(rate) = fixed {
        if rate > 0.0 {
            rows.push(phase(ctx, cfg, &mut sync, &logs, &phases, Some(rate), &setup).await?);
        } else {
            let label = format!("{} rate", cfg.delivery);
            rows.push(
                Row::new("fanout", &ctx.server, &label, cfg.clients)
                    .failed("no post was accepted at the saturating rate".into()),
            );
        }
    }

    let _ = stop_tx.send(true);
    drop(phases);
    let (_, mut errors) = collect(receivers, Duration::from_secs(30)).await;
    errors.extend(collect(posters, Duration::from_secs(30)).await.1);
    if let Some(e) = errors.first() {
        eprintln!(
            "chatty-bench:   {} virtual users ended with an error, the first: {e}",
            errors.len()
        );
    }
    Ok(rows)
}

/// One measured phase: posting for `--duration`, then the drain.
async fn phase(
    ctx: &Ctx,
    cfg: &Config,
    sync: &mut Rounds,
    logs: &[Log],
    posters: &[mpsc::UnboundedSender<Phase>],
    rate: Option<f64>,
    setup: &serde_json::Value,
) -> Result<Row> {
    let variant = match (rate, cfg.rate) {
        (None, _) => format!("{} saturate", cfg.delivery),
        (Some(_), Some(_)) => format!("{} fixed rate", cfg.delivery),
        (Some(_), None) => format!("{} 50% rate", cfg.delivery),
    };
    let shared = Arc::clone(&sync.shared);
    for log in logs {
        log.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
    let (resyncs, reconnects, receiver_errors) = (
        shared.resyncs.load(Ordering::SeqCst),
        shared.reconnects.load(Ordering::SeqCst),
        shared.errors.count(),
    );
    let start = Instant::now() + Duration::from_millis(100);
    let start_us = now_us() + 100_000;
    let end = start + cfg.duration;
    let count = posters.len().max(1) as f64;
    let period = rate.map(|r| Duration::from_secs_f64(count / r));
    let mut replies = Vec::new();
    for (i, tx) in posters.iter().enumerate() {
        let (reply, rx) = oneshot::channel();
        let offset = period.map_or(Duration::ZERO, |p| p.mul_f64(i as f64 / count));
        let _ = tx.send(Phase {
            start,
            end,
            period,
            offset,
            reply,
        });
        replies.push(rx);
    }
    let cpu_before = ctx.cpu_ns();
    let ticks_before = MachineTicks::now();
    // The coordinator posts the next round's message after the phase: a phase longer than the
    // server's inactivity timeout would otherwise end its session.
    let (accepted, post_errors, first_error) = sync
        .keeping_alive(async {
            let mut accepted = HashMap::new();
            let (mut post_errors, mut first_error) = (0, None);
            for rx in replies {
                let log = rx
                    .await
                    .map_err(|_| Error::other("a poster stopped before the end of the phase"))?;
                accepted.extend(log.accepted);
                post_errors += log.errors;
                first_error = first_error.or(log.first_error);
            }
            Ok::<_, Error>((accepted, post_errors, first_error))
        })
        .await?;
    let posted_s = start.elapsed().as_secs_f64();
    let expected = accepted.len() as u64 * cfg.clients as u64;
    // The drain ends early once every receiver has the message posted after the last post.
    let drain_start = Instant::now();
    let round = sync.next;
    let drained = sync.round(round, &ctx.chat, cfg.drain).await?;
    let drain_s = drain_start.elapsed().as_secs_f64();
    let cutoff = now_us();
    let cpu_after = ctx.cpu_ns();
    let steal = MachineTicks::stolen_since(ticks_before);
    // Receivers still behind get up to --ready-timeout more: what arrives then is late (past
    // the drain), not lost; the next phase starts from a clean state either way.
    let catch_up_start = Instant::now();
    let caught_up = drained || sync.caught_up(cfg.ready_timeout).await;
    let catch_up_s = catch_up_start.elapsed().as_secs_f64();
    let received: Vec<Vec<(u64, u64)>> = logs
        .iter()
        .map(|log| std::mem::take(&mut *log.lock().unwrap_or_else(PoisonError::into_inner)))
        .collect();
    let late: u64 = received
        .iter()
        .map(|log| log.iter().filter(|&&(_, at)| at > cutoff).count() as u64)
        .sum();
    let t = tally(&accepted, &received);
    let duration = cfg.duration.as_secs_f64();
    // Delivered per second counts what arrived while posting and draining, not the backlog
    // that arrived later.
    let in_time = t.delivered.saturating_sub(late);
    let window_s = (cutoff.saturating_sub(start_us) as f64 / 1e6).max(duration);
    let memory = ctx.memory();
    let latency = Summary::of(t.latencies_us);
    // CPU per event delivered while posting and draining: what each answer cost the server,
    // and the bench (posters and receivers together). The CPU time is read when the drain
    // ends, so what arrived later (a backlog at saturation) is left out of the count too.
    let per_delivery = |before: Option<u64>, after: Option<u64>| {
        let used = after?.checked_sub(before?)?;
        (in_time > 0).then(|| round3(used as f64 / 1000.0 / in_time as f64))
    };
    let server_cpu_us = per_delivery(cpu_before.0, cpu_after.0);
    let bench_cpu_us = per_delivery(cpu_before.1, cpu_after.1);
    let first_receiver = Summary::of(t.first_us);
    let last_receiver = Summary::of(t.last_us);
    let mut row = Row::new("fanout", &ctx.server, &variant, cfg.clients);
    row.ops_per_s = Some(accepted.len() as f64 / duration);
    row.delivered_per_s = Some(in_time as f64 / window_s);
    row.latency = latency;
    row.lost = Some(t.lost);
    row.duplicates = Some(t.duplicates);
    row.errors = post_errors + shared.errors.count() - receiver_errors;
    row.rss_kib = memory.map(|m| m.rss_kib);
    row.details = json!({
        "delivery": cfg.delivery.to_string(),
        "receivers": cfg.clients,
        "posters": cfg.posters,
        "target_rate_per_s": rate,
        "duration_s": duration,
        "posting_took_s": posted_s,
        "drain_used_s": drain_s,
        "all_caught_up_in_drain": drained,
        "late_after_drain": late,
        "catch_up_after_drain_s": catch_up_s,
        "all_caught_up": caught_up,
        "accepted_posts": accepted.len(),
        "posts_per_s": accepted.len() as f64 / duration,
        "post_errors": post_errors,
        "first_post_error": first_error,
        "delivered_events": t.delivered,
        "delivered_in_time": in_time,
        "delivered_window_s": window_s,
        "delivered_per_s": in_time as f64 / window_s,
        "expected_deliveries": expected,
        "latency_ms": latency.map(|l| l.json()),
        "server_cpu_us_per_delivery": server_cpu_us,
        "bench_cpu_us_per_delivery": bench_cpu_us,
        "steal_percent": steal,
        "first_receiver_ms": first_receiver.map(|l| l.json()),
        "last_receiver_ms": last_receiver.map(|l| l.json()),
        "lost": t.lost,
        "duplicates": t.duplicates,
        "unexpected": t.unexpected,
        "resync_events": shared.resyncs.load(Ordering::SeqCst) - resyncs,
        "stream_reconnects": shared.reconnects.load(Ordering::SeqCst) - reconnects,
        "receiver_errors": shared.errors.count() - receiver_errors,
        "first_receiver_error": shared.errors.first(),
        "setup": setup,
        "memory": memory.map(|m| m.json()),
    });
    eprintln!(
        "chatty-bench:   {variant}: {} posts accepted, {} delivered ({late} after the drain, \
         caught up {catch_up_s:.1} s later), {} lost",
        accepted.len(),
        t.delivered,
        t.lost
    );
    if let (Some(server), Some(bench)) = (server_cpu_us, bench_cpu_us) {
        eprintln!(
            "chatty-bench:   CPU per delivery: {server:.1} µs of the server's, {bench:.1} µs of \
             the bench's (the host took {:.0} % of the machine's)",
            steal.unwrap_or(0.0)
        );
    }
    if let (Some(first), Some(last)) = (first_receiver, last_receiver) {
        eprintln!(
            "chatty-bench:   per message, its first receiver had it after {:.2} ms (p50; p99 \
             {:.2}), its last after {:.2} ms (p50; p99 {:.2})",
            first.p50_ms, first.p99_ms, last.p50_ms, last.p99_ms
        );
    }
    Ok(row)
}

/// Synchronisation rounds: the coordinator posts `<sentinel> <round>` and waits until every
/// receiver has it; as events are totally ordered, a receiver that has it has everything
/// posted before.
struct Rounds {
    coordinator: User,
    sentinel: Arc<str>,
    shared: Arc<Shared>,
    clients: usize,
    next: u64,
    /// How often the coordinator keeps its session alive while it waits.
    keepalive_every: Duration,
}

impl Rounds {
    /// Posts round `round`'s message; whether every receiver got it within `limit`.
    async fn round(&mut self, round: u64, chat: &str, limit: Duration) -> Result<bool> {
        self.shared.synced.store(0, Ordering::SeqCst);
        self.shared.round.store(round, Ordering::SeqCst);
        self.next = round + 1;
        let text = format!("{} {round}", self.sentinel);
        self.coordinator.post(chat, &text).await?;
        Ok(self.caught_up(limit).await)
    }

    /// Waits (at most `limit`) until every receiver has the current round's message.
    async fn caught_up(&mut self, limit: Duration) -> bool {
        let (shared, clients) = (Arc::clone(&self.shared), self.clients);
        self.keeping_alive(wait_until(limit, || {
            shared.synced.load(Ordering::SeqCst) == clients
        }))
        .await
    }

    /// Runs `work`, keeping the coordinator's session alive meanwhile.
    async fn keeping_alive<T>(&mut self, work: impl std::future::Future<Output = T>) -> T {
        keeping_alive_every(
            self.keepalive_every,
            &mut self.coordinator,
            &self.shared.errors,
            work,
        )
        .await
    }
}

/// Where a receiver's events go: before the sentinel, nowhere (the backlog); after it, the
/// log of the chat's messages.
struct Sink {
    common: Common,
    sentinel: Arc<str>,
    ready: bool,
    log: Log,
}

impl Sink {
    fn take(&mut self, envelope: &Envelope) {
        let shared = &self.common.shared;
        if envelope.kind == "ResyncEvent" {
            shared.resyncs.fetch_add(1, Ordering::SeqCst);
        }
        let Some((id, text)) = envelope.message_in(&self.common.chat) else {
            return;
        };
        if let Some(round) = text
            .strip_prefix(&*self.sentinel)
            .and_then(|rest| rest.trim().parse::<u64>().ok())
        {
            if round == shared.round.load(Ordering::SeqCst) {
                shared.synced.fetch_add(1, Ordering::SeqCst);
            }
            self.ready = true;
            return;
        }
        if !self.ready {
            return;
        }
        let at = now_us();
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, at));
        shared.received.fetch_add(1, Ordering::SeqCst);
    }
}

/// Envelopes per answer while a compatible-poll receiver drains its set-up backlog.
const SETUP_BATCH: usize = 100;

async fn receiver(
    client: Rc<Client>,
    common: Common,
    name: String,
    delivery: Delivery,
    sentinel: Arc<str>,
    log: Log,
) -> Result<()> {
    let (mut user, joined_at) = common.enter(client, name).await?;
    let mut stop = common.stop.clone();
    let mut sink = Sink {
        common: common.clone(),
        sentinel,
        ready: false,
        log,
    };
    let shared = Arc::clone(&common.shared);
    match delivery {
        Delivery::Poll => loop {
            // Until the sentinel arrives, the backlog of the others' logins and joins (about
            // 1.5·C² events for all receivers together) is drained in batches with the `limit`
            // extension; the measured phases use only the compatible one-event poll.
            let ready = sink.ready;
            let poll = async {
                if ready {
                    user.poll().await.map(|one| one.into_iter().collect())
                } else {
                    user.poll_batch(SETUP_BATCH).await
                }
            };
            let polled = tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => break,
                polled = poll => polled,
            };
            match polled {
                Ok(envelopes) => envelopes.iter().for_each(|e| sink.take(e)),
                Err(e) => {
                    shared.errors.note(&e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        },
        Delivery::Sse => {
            let mut cursor = joined_at;
            'connect: loop {
                let opened = tokio::select! {
                    biased;
                    _ = stop.wait_for(|stop| *stop) => break 'connect,
                    opened = user.events(cursor) => opened,
                };
                let mut stream = match opened {
                    Ok(stream) => stream,
                    Err(e) => {
                        shared.errors.note(&e);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                loop {
                    let next = tokio::select! {
                        biased;
                        _ = stop.wait_for(|stop| *stop) => break 'connect,
                        next = stream.next() => next,
                    };
                    match next {
                        Ok(Some(event)) => {
                            if let Some(id) = event.id.as_deref().and_then(|i| i.parse().ok()) {
                                cursor = Some(id);
                            }
                            match event.envelope() {
                                Ok(envelope) => sink.take(&envelope),
                                Err(e) => shared.errors.note(&e),
                            }
                        }
                        Ok(None) => {
                            shared.reconnects.fetch_add(1, Ordering::SeqCst);
                            continue 'connect;
                        }
                        Err(e) => {
                            shared.errors.note(&e);
                            shared.reconnects.fetch_add(1, Ordering::SeqCst);
                            continue 'connect;
                        }
                    }
                }
            }
        }
    }
    if common.cleanup {
        user.logout().await?;
    }
    Ok(())
}

async fn poster(
    client: Rc<Client>,
    common: Common,
    name: String,
    mut phases: mpsc::UnboundedReceiver<Phase>,
) -> Result<()> {
    let (mut user, _) = common.enter(client, name).await?;
    let chat = Arc::clone(&common.chat);
    while let Some(phase) = keeping_alive(&mut user, &common.shared.errors, phases.recv()).await {
        let mut log = PosterLog::default();
        tokio::time::sleep_until(phase.start.into()).await;
        match phase.period {
            None => {
                while Instant::now() < phase.end {
                    post_once(&mut user, &chat, &mut log).await;
                }
            }
            Some(period) => {
                let mut ticks =
                    tokio::time::interval_at((phase.start + phase.offset).into(), period);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
                loop {
                    ticks.tick().await;
                    if Instant::now() >= phase.end {
                        break;
                    }
                    post_once(&mut user, &chat, &mut log).await;
                }
            }
        }
        let _ = phase.reply.send(log);
    }
    if common.cleanup {
        user.logout().await?;
    }
    Ok(())
}

async fn post_once(user: &mut User, chat: &str, log: &mut PosterLog) {
    match user.post(chat, "m").await {
        Ok(id) => log.accepted.push((id, now_us())),
        Err(e) => {
            log.errors += 1;
            log.first_error.get_or_insert_with(|| e.to_string());
            // A failing server must not turn the poster into a busy loop.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::new_client;
    use crate::scenarios::tests::{canned, run_local};

    /// The coordinator waits through a whole phase: longer than the keepalive interval, it
    /// keeps its session alive, or the server's inactivity sweep would end it and its next
    /// round's message would be refused.
    #[test]
    fn the_coordinator_keeps_its_session_alive_while_receivers_catch_up() {
        run_local(async {
            let (base, server) = canned(vec![(200, "", "")]).await;
            let coordinator = User::new(Rc::new(new_client()), Rc::from(base.as_str()), "c".into());
            let mut rounds = Rounds {
                coordinator,
                sentinel: Arc::from("sync"),
                shared: Arc::default(),
                clients: 1,
                next: 0,
                keepalive_every: Duration::from_millis(100),
            };
            assert!(!rounds.caught_up(Duration::from_millis(150)).await);
            let asked = tokio::time::timeout(Duration::from_secs(5), server)
                .await
                .expect("the coordinator sent a keepalive while it waited");
            assert_eq!(asked.unwrap(), ["PUT /api/loggedonly/keepalive HTTP/1.1"]);
            assert_eq!(rounds.shared.errors.count(), 0);
        });
    }
}
