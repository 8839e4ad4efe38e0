//! Idle connections: N clients each hold a waiting long poll (or an open event stream); what
//! they cost the server in memory, and how long one message takes to reach all of them.
//!
//! Each client waits from a snapshot cursor (`Chatty-Event-Id` of a getChats made after all
//! joins) with the `after=` extension: with the server-side cursor alone, each would first
//! drain the ~N² login and join events of the others.

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use awc::Client;
use serde_json::json;
use tokio::sync::{Semaphore, watch};

use super::{
    Ctx, Delivery, Errors, SETUP_CONCURRENCY, collect, keeping_alive, log_in_and_join, wait_until,
};
use crate::client::{Error, Result, User, now_us};
use crate::pool::Pool;
use crate::report::{Row, Summary};
use crate::server::Memory;

pub struct Config {
    pub clients: usize,
    pub variants: Vec<Delivery>,
    /// How long logging in and joining may take.
    pub ready_timeout: Duration,
}

/// How long every client has to receive the message.
const RECEIVE_BOUND: Duration = Duration::from_secs(10);

/// Wait between "every request sent" and the measurement, so the server has them all parked.
const SETTLE: Duration = Duration::from_secs(2);

/// What the clients do now: nothing yet (seq 0), wait for `text` from `cursor`, or stop.
#[derive(Clone)]
struct Round {
    seq: u64,
    delivery: Delivery,
    cursor: u64,
    text: Arc<str>,
    stop: bool,
}

struct Shared {
    joined: AtomicUsize,
    /// Clients whose poll or stream request went out this round.
    issued: AtomicUsize,
    /// Event streams whose response head arrived this round.
    opened: AtomicUsize,
    received: AtomicUsize,
    /// Receive µs per client this round; 0 = not yet.
    got: Vec<AtomicU64>,
    errors: Errors,
    setup_failures: Errors,
    /// Set-up steps answered 503 or cut off, and tried again.
    setup_retries: Errors,
}

pub async fn run(ctx: &Ctx, pool: &Pool, cfg: &Config) -> Result<Vec<Row>> {
    let set_up = Instant::now();
    let shared = Arc::new(Shared {
        joined: AtomicUsize::new(0),
        issued: AtomicUsize::new(0),
        opened: AtomicUsize::new(0),
        received: AtomicUsize::new(0),
        got: (0..cfg.clients).map(|_| AtomicU64::new(0)).collect(),
        errors: Errors::default(),
        setup_failures: Errors::default(),
        setup_retries: Errors::default(),
    });
    let (rounds, round_rx) = watch::channel(Round {
        seq: 0,
        delivery: Delivery::Poll,
        cursor: 0,
        text: Arc::from(""),
        stop: false,
    });
    let mut coordinator = ctx.user("c");
    coordinator.login().await?;
    coordinator.join(&ctx.chat).await?;
    let setup = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = Vec::with_capacity(cfg.clients);
    for index in 0..cfg.clients {
        let (shared, setup, rounds) = (Arc::clone(&shared), Arc::clone(&setup), round_rx.clone());
        let (base, chat, name) = (
            Arc::clone(&ctx.base),
            Arc::clone(&ctx.chat),
            ctx.names.next("i"),
        );
        let cleanup = ctx.cleanup;
        tasks.push(pool.spawn(move |client: Rc<Client>| async move {
            let mut user = User::new(client, Rc::from(&*base), name);
            let entered = async {
                let _permit = setup
                    .acquire()
                    .await
                    .map_err(|_| Error::other("set-up cancelled"))?;
                log_in_and_join(&mut user, &chat, &shared.setup_retries).await
            }
            .await;
            if let Err(e) = entered {
                shared.setup_failures.note(&e);
                return Err(e);
            }
            shared.joined.fetch_add(1, Ordering::SeqCst);
            client_rounds(&mut user, &chat, index, &shared, rounds).await;
            if cleanup {
                user.logout().await?;
            }
            Ok(())
        }));
    }
    let all_joined = wait_until(cfg.ready_timeout, || {
        shared.joined.load(Ordering::SeqCst) == cfg.clients || shared.setup_failures.count() > 0
    });
    let joined = keeping_alive(&mut coordinator, &shared.errors, all_joined).await;
    if !joined || shared.setup_failures.count() > 0 {
        return Err(Error::other(format!(
            "{} of {} idle clients logged in and joined within {} s{}",
            shared.joined.load(Ordering::SeqCst),
            cfg.clients,
            cfg.ready_timeout.as_secs(),
            shared.setup_failures.suffix()
        )));
    }
    let joined_s = set_up.elapsed().as_secs_f64();
    eprintln!(
        "chatty-bench:   {} idle clients joined in {joined_s:.1} s ({} steps tried again{})",
        cfg.clients,
        shared.setup_retries.count(),
        shared.setup_retries.suffix()
    );
    // The sessions and memberships alone, before any request waits: what the waiting requests
    // cost is the difference to each round's `memory_before`.
    let joined_memory = ctx.memory();

    let mut rows = Vec::new();
    for (seq, &delivery) in (1..).zip(&cfg.variants) {
        let row = round(
            ctx,
            cfg,
            &shared,
            &rounds,
            &mut coordinator,
            seq,
            delivery,
            (joined_s, joined_memory),
        )
        .await;
        rows.push(row.unwrap_or_else(|e| {
            Row::new("idle", &ctx.server, &delivery.to_string(), cfg.clients).failed(e.to_string())
        }));
    }
    let _ = rounds.send(Round {
        seq: u64::MAX,
        delivery: Delivery::Poll,
        cursor: 0,
        text: Arc::from(""),
        stop: true,
    });
    let (_, errors) = collect(tasks, Duration::from_secs(30)).await;
    if let Some(e) = errors.first() {
        eprintln!(
            "chatty-bench:   {} idle clients ended with an error, the first: {e}",
            errors.len()
        );
    }
    Ok(rows)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, all of it the round's state"
)]
async fn round(
    ctx: &Ctx,
    cfg: &Config,
    shared: &Shared,
    rounds: &watch::Sender<Round>,
    coordinator: &mut User,
    seq: u64,
    delivery: Delivery,
    (joined_s, joined_memory): (f64, Option<Memory>),
) -> Result<Row> {
    for got in &shared.got {
        got.store(0, Ordering::SeqCst);
    }
    shared.issued.store(0, Ordering::SeqCst);
    shared.opened.store(0, Ordering::SeqCst);
    shared.received.store(0, Ordering::SeqCst);
    let errors_before = shared.errors.count();
    let cursor = coordinator.get_chats().await?;
    let text: Arc<str> = Arc::from(format!("idle {}", ctx.names.next("m")));
    let _ = rounds.send(Round {
        seq,
        delivery,
        cursor,
        text: Arc::clone(&text),
        stop: false,
    });
    // The coordinator waits as long as the clients take: its session must outlast that.
    let issued = keeping_alive(
        coordinator,
        &shared.errors,
        wait_until(Duration::from_secs(60), || {
            shared.issued.load(Ordering::SeqCst) == cfg.clients
        }),
    )
    .await;
    if !issued {
        return Err(Error::other(format!(
            "only {} of {} clients sent their {delivery} request within 60 s{}",
            shared.issued.load(Ordering::SeqCst),
            cfg.clients,
            shared.errors.suffix()
        )));
    }
    tokio::time::sleep(SETTLE).await;
    let opened = shared.opened.load(Ordering::SeqCst);
    let before = ctx.memory();
    let posted_at = now_us();
    coordinator.post(&ctx.chat, &text).await?;
    let post_ms = (now_us() - posted_at) as f64 / 1000.0;
    wait_until(RECEIVE_BOUND, || {
        shared.received.load(Ordering::SeqCst) == cfg.clients
    })
    .await;
    let after = ctx.memory();
    let latencies: Vec<u64> = shared
        .got
        .iter()
        .map(|got| got.load(Ordering::SeqCst))
        .filter(|&at| at > 0)
        .map(|at| at.saturating_sub(posted_at))
        .collect();
    let received = latencies.len();
    let all_ms = (received == cfg.clients)
        .then(|| latencies.iter().max().map(|&us| us as f64 / 1000.0))
        .flatten();
    let latency = Summary::of(latencies);
    let errors = shared.errors.count() - errors_before;
    let mut row = Row::new("idle", &ctx.server, &delivery.to_string(), cfg.clients);
    row.latency = latency;
    row.lost = Some((cfg.clients - received) as u64);
    row.errors = errors;
    row.rss_kib = after.map(|m| m.rss_kib);
    row.details = json!({
        "delivery": delivery.to_string(),
        "clients": cfg.clients,
        "joined_s": joined_s,
        "setup_retried": shared.setup_retries.count(),
        "setup_first_retry": shared.setup_retries.first(),
        "streams_open": (delivery == Delivery::Sse).then_some(opened),
        "post_ms": post_ms,
        "received": received,
        "lost": cfg.clients - received,
        "all_received_ms": all_ms,
        "receive_ms": latency.map(|l| l.json()),
        "memory_joined": joined_memory.map(|m| m.json()),
        "memory_before": before.map(|m| m.json()),
        "memory_after": after.map(|m| m.json()),
        "errors": errors,
        "first_error": shared.errors.first(),
    });
    eprintln!(
        "chatty-bench:   idle {delivery}: {received} of {} received{}",
        cfg.clients,
        all_ms
            .map(|ms| format!(", all within {ms:.1} ms"))
            .unwrap_or_default()
    );
    Ok(row)
}

/// Follows the rounds until told to stop: in each, waits for the round's message.
async fn client_rounds(
    user: &mut User,
    chat: &str,
    index: usize,
    shared: &Shared,
    mut rounds: watch::Receiver<Round>,
) {
    loop {
        let round = rounds.borrow_and_update().clone();
        if round.stop {
            return;
        }
        if round.seq > 0 {
            let outcome = tokio::select! {
                got = wait_for(user, chat, &round, shared) => Some(got),
                changed = rounds.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    None
                }
            };
            match outcome {
                None => continue,
                Some(Ok(at)) => {
                    shared.got[index].store(at, Ordering::SeqCst);
                    shared.received.fetch_add(1, Ordering::SeqCst);
                }
                Some(Err(e)) => shared.errors.note(&e),
            }
        }
        if keeping_alive(user, &shared.errors, rounds.changed())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Waits for the round's message from its cursor; the receive µs.
async fn wait_for(user: &mut User, chat: &str, round: &Round, shared: &Shared) -> Result<u64> {
    let is_it = |envelope: &crate::client::Envelope| {
        envelope
            .message_in(chat)
            .is_some_and(|(_, text)| text == &*round.text)
    };
    shared.issued.fetch_add(1, Ordering::SeqCst);
    match round.delivery {
        Delivery::Poll => {
            let mut after = round.cursor;
            loop {
                let Some(envelope) = user.poll_after(after).await? else {
                    continue;
                };
                if is_it(&envelope) {
                    return Ok(now_us());
                }
                after = envelope.id.ok_or_else(|| {
                    Error::other("poll?after=: an envelope without id (not this API's extension)")
                })?;
            }
        }
        Delivery::Sse => {
            let mut stream = user.events(Some(round.cursor)).await?;
            shared.opened.fetch_add(1, Ordering::SeqCst);
            loop {
                let Some(event) = stream.next().await? else {
                    return Err(Error::other("events: the stream ended before the message"));
                };
                if is_it(&event.envelope()?) {
                    return Ok(now_us());
                }
            }
        }
    }
}
