//! The long poll.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CACHE_CONTROL, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use chatty_domain::{Delivery, EventId, LoggedIn, PollOutcome, PollRequest, Services};
use futures_util::future::LocalBoxFuture;
use serde::Deserialize;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::response::{empty_ok, envelopes};
use crate::session::Me;
use crate::state::Api;

#[derive(Deserialize)]
pub struct PollQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /api/loggedonly/poll[?after=<id>][&limit=N]` → 200 with one envelope (an array of up
/// to N with `limit`), or 200 empty when nothing arrives within `ResponseTimeout − 1s`, when
/// the session ends, or at shutdown; 400, 401.
///
/// Thousands of clients each hold one of these for up to `ResponseTimeout`, so the future is
/// kept lean: boxed on its own with each value stored once (an `async fn` handler keeps its
/// arguments twice, and actix's handler wrapper around it a third time), and the give-up
/// future pinned here and lent to the use case rather than moved, and copied, down its calls.
/// That halves what a waiting poll's handler holds (2 KB to under 1 KB).
///
/// What the middleware and the extractors parsed from the request (its cookies, the session's
/// state, the request id) stays in the request's extensions until the answer. A poll has read
/// all it needs and changes nothing in the session, so it releases them before it waits,
/// about 1.7 KB a poll; the session middleware then finds nothing changed and sets no cookie.
pub fn poll(
    req: HttpRequest,
    Me(me): Me,
    query: web::Query<PollQuery>,
    api: Api,
) -> LocalBoxFuture<'static, PollAnswer> {
    req.extensions_mut().clear();
    drop(req);
    Box::pin(async move {
        let _waiting = crate::metrics::Raised::new(&api.metrics.waiting_polls);
        let wait = api.settings.poll_wait;
        let mut shutdown = api.shutdown.clone();
        let give_up = std::pin::pin!(async move {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
        });
        let request = PollRequest {
            after: query.after.as_deref(),
            limit: query.limit.as_deref(),
        };
        let outcome = api.services.poll(&me, request, give_up).await?;
        if let PollOutcome::Delivered(batch) = &outcome {
            let shown = if query.limit.is_some() {
                batch.len()
            } else {
                1
            };
            api.metrics.events_delivered.inc_by(shown as u64);
        }
        Ok(match outcome {
            PollOutcome::Delivered(batch) if !batch.is_empty() => {
                envelopes(&batch, query.limit.is_some())
            }
            PollOutcome::Delivered(_) | PollOutcome::TimedOut | PollOutcome::SessionEnded => {
                empty_ok()
            }
        })
    })
}

type PollAnswer = Result<HttpResponse, ApiError>;

/// A long poll holds its request while it waits, up to `ResponseTimeout`, and actix gives
/// every request head a header table sized for 16 headers (about 6.5 KB) whatever it carried:
/// a third of what a waiting poll costs. By the time the poll's own route is reached, the
/// middleware has read what it needs from the headers (the session cookie, the CORS origin)
/// and the poll handler reads none, so the table is released before the wait.
pub(crate) async fn release_request_headers(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    *req.headers_mut() = HeaderMap::new();
    next.call(req).await
}

/// Events sent in one chunk of a stream at most.
const STREAM_BATCH: usize = 100;

/// Where an event stream stands.
struct Stream {
    services: Services,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    _open: crate::metrics::Raised,
    me: LoggedIn,
    cursor: EventId,
    heartbeat: std::time::Duration,
    /// When the next heartbeat is due: one timer for the stream's life, reset only when it
    /// fires, rather than a new timer for every chunk.
    heartbeat_due: std::pin::Pin<Box<tokio::time::Sleep>>,
    shutdown: watch::Receiver<bool>,
    started: bool,
}

/// What `sse_event` adds to an envelope at most: the field names, the id (up to 20 digits),
/// the longest event type name and the line ends.
const SSE_FRAMING: usize = "id: \nevent: \ndata: \n\n".len() + 20 + 32;

/// One event in the Server-Sent Events format: its id is the cursor to resume from.
fn sse_event(out: &mut String, delivery: &Delivery) {
    use std::fmt::Write as _;
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "id: {}\nevent: {}\ndata: {}\n\n",
        delivery.id(),
        delivery.type_name(),
        delivery.envelope_json()
    );
}

/// The next chunk of the stream, or `None` when it ends (logout, expiry, shutdown).
async fn next_chunk(mut stream: Stream) -> Option<(Result<Bytes, actix_web::Error>, Stream)> {
    if !stream.started {
        stream.started = true;
        // Tells EventSource clients how soon to reconnect.
        return Some((Ok(Bytes::from_static(b"retry: 2000\n\n")), stream));
    }
    if *stream.shutdown.borrow() {
        return None;
    }
    let next = {
        let due = &mut stream.heartbeat_due;
        let shutdown = &mut stream.shutdown;
        // Pinned here and lent, as in `poll`: an open stream holds this future between events.
        let give_up = std::pin::pin!(async move {
            tokio::select! {
                () = due.as_mut() => {}
                _ = shutdown.wait_for(|stopping| *stopping) => {}
            }
        });
        stream
            .services
            .next_events(&stream.me, stream.cursor, STREAM_BATCH, give_up)
            .await
    };
    if stream.heartbeat_due.is_elapsed() {
        let next_due = tokio::time::Instant::now() + stream.heartbeat;
        stream.heartbeat_due.as_mut().reset(next_due);
    }
    match next {
        Ok(PollOutcome::Delivered(batch)) => {
            // Sized once: a thousand streams write each message.
            let size = batch
                .iter()
                .map(|d| d.envelope_json().len() + SSE_FRAMING)
                .sum();
            let mut text = String::with_capacity(size);
            for delivery in &batch {
                sse_event(&mut text, delivery);
                stream.cursor = delivery.id();
            }
            stream.metrics.events_delivered.inc_by(batch.len() as u64);
            Some((Ok(Bytes::from(text)), stream))
        }
        Ok(PollOutcome::TimedOut) if !*stream.shutdown.borrow() => {
            Some((Ok(Bytes::from_static(b": keep-alive\n\n")), stream))
        }
        Ok(PollOutcome::TimedOut | PollOutcome::SessionEnded) | Err(_) => None,
    }
}

/// `GET /api/loggedonly/events[?after=<id>]` (extension, api.md §3): the session's events as
/// Server-Sent Events (`id:` = event id, `event:` = type, `data:` = the poll envelope),
/// resuming after `Last-Event-ID` or `after`, else from now; heartbeat comments keep proxies
/// from closing it. It ends on logout, session expiry and shutdown; 400, 401.
pub async fn stream(
    Me(me): Me,
    req: HttpRequest,
    query: web::Query<PollQuery>,
    api: Api,
) -> Result<HttpResponse, ApiError> {
    let resume = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.after.clone());
    let cursor = match resume {
        Some(raw) => api.services.event_cursor(raw.trim()).await?,
        None => api.services.last_event_id().await?,
    };
    let state = Stream {
        services: api.services.clone(),
        metrics: api.metrics.clone(),
        _open: crate::metrics::Raised::new(&api.metrics.open_streams),
        me,
        cursor,
        heartbeat: api.settings.poll_wait,
        heartbeat_due: Box::pin(tokio::time::sleep(api.settings.poll_wait)),
        shutdown: api.shutdown.clone(),
        started: false,
    };
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(futures_util::stream::unfold(state, next_chunk)))
}
