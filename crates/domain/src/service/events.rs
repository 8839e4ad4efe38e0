//! Delivering events to sessions: the long poll and its cursor extensions.

use std::future::Future;

use super::{LoggedIn, Services};
use crate::error::{Error, Result};
use crate::model::event::{Delivery, EventId};
use crate::model::input::{Field, InvalidInput, Problem};
use crate::ports::{Missing, StoreError};

/// What a poll asks for.
#[derive(Debug, Clone, Default)]
pub struct PollRequest<'a> {
    /// `after=<id>`: the client's own cursor (api.md §3). Without it the session's
    /// server-side cursor is used and advanced.
    pub after: Option<&'a str>,
    /// `limit=N`: up to N events in one response (an array). Without it, one event.
    pub limit: Option<&'a str>,
}

/// How a poll ended.
#[derive(Debug)]
pub enum PollOutcome {
    /// One or more events, in order.
    Delivered(Vec<Delivery>),
    /// Nothing arrived before the caller gave up (the poll timeout, shutdown).
    TimedOut,
    /// The session ended while waiting (logout, a newer login, expiry).
    SessionEnded,
}

#[derive(Clone, Copy)]
enum Cursor {
    Server,
    After(EventId),
}

impl Services {
    /// `GET /api/loggedonly/poll`: waits until there are events for the session, or until
    /// `give_up` resolves, or until the session ends.
    ///
    /// Without `after`, events are taken from the session's server-side cursor: each event goes
    /// to exactly one of several concurrent polls of the session, and events that happen
    /// between two polls wait for the next one (api.md §2 item 11). With `after`, the client's
    /// cursor is used and nothing on the server moves, so a client can resume on any instance
    /// after a reconnect.
    ///
    /// # Errors
    /// `BadCursor` (not a number, or beyond the newest event), `Invalid` (limit),
    /// `Unavailable`.
    pub async fn poll<F>(
        &self,
        me: &LoggedIn,
        request: PollRequest<'_>,
        give_up: F,
    ) -> Result<PollOutcome>
    where
        F: Future<Output = ()> + Send,
    {
        let limit = self.poll_limit(request.limit)?;
        let cursor = match request.after {
            None => Cursor::Server,
            Some(raw) => Cursor::After(self.parse_cursor(raw).await?),
        };
        self.wait_for_events(me, cursor, limit, give_up).await
    }

    /// The next events after `after` for an event stream, whose cursor was checked when it
    /// opened and has only moved along the events since: no check, no round trip.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn next_events<F>(
        &self,
        me: &LoggedIn,
        after: EventId,
        limit: usize,
        give_up: F,
    ) -> Result<PollOutcome>
    where
        F: Future<Output = ()> + Send,
    {
        let limit = limit.clamp(1, self.policy.max_poll_batch);
        self.wait_for_events(me, Cursor::After(after), limit, give_up)
            .await
    }

    async fn wait_for_events<F>(
        &self,
        me: &LoggedIn,
        cursor: Cursor,
        limit: usize,
        give_up: F,
    ) -> Result<PollOutcome>
    where
        F: Future<Output = ()> + Send,
    {
        let key = me.key();
        let events = &self.ports.events;
        tokio::pin!(give_up);
        loop {
            // Subscribe before reading: an append between the read and the wait still wakes us.
            let wakeup = match events.subscribe(&key).await {
                Ok(w) => w,
                Err(StoreError::NotFound(Missing::Session)) => {
                    return Ok(PollOutcome::SessionEnded);
                }
                Err(e) => return Err(Error::from_store(e)),
            };
            let read = match cursor {
                Cursor::Server => events.take(&key, limit).await,
                Cursor::After(after) => events.read_after(&key, after, limit).await,
            };
            match read {
                Ok(batch) if !batch.is_empty() => return Ok(PollOutcome::Delivered(batch)),
                Ok(_) => {}
                Err(StoreError::NotFound(Missing::Session)) => {
                    return Ok(PollOutcome::SessionEnded);
                }
                Err(e) => return Err(Error::from_store(e)),
            }
            tokio::select! {
                () = wakeup => {}
                () = &mut give_up => return Ok(PollOutcome::TimedOut),
            }
        }
    }

    /// The id of the newest event: where a client that has just read a snapshot starts.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn last_event_id(&self) -> Result<EventId> {
        self.ports.events.last_id().await.map_err(Error::from_store)
    }

    /// Readiness: whether the store answers (`GET /readyz`).
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn check_ready(&self) -> Result<()> {
        self.last_event_id().await.map(|_| ())
    }

    /// Checks a client's event cursor (`after=`, `Last-Event-ID`).
    ///
    /// # Errors
    /// `BadCursor` when it is not a number or beyond the newest event, `Unavailable`.
    pub async fn event_cursor(&self, raw: &str) -> Result<EventId> {
        self.parse_cursor(raw).await
    }

    async fn parse_cursor(&self, raw: &str) -> Result<EventId> {
        let id: u64 = raw
            .parse()
            .map_err(|_| Error::BadCursor(format!("{raw:?} is not an event id")))?;
        let last = self.last_event_id().await?;
        if id > last.0 {
            return Err(Error::BadCursor(format!(
                "{id} is beyond the newest event {last}"
            )));
        }
        Ok(EventId(id))
    }

    fn poll_limit(&self, raw: Option<&str>) -> Result<usize> {
        let max = self.policy.max_poll_batch;
        let Some(raw) = raw else { return Ok(1) };
        let out_of_range = || {
            Error::from(InvalidInput::new(
                Field::Limit,
                Problem::OutOfRange {
                    min: 1,
                    max: max as u64,
                },
            ))
        };
        let n: usize = raw.parse().map_err(|_| out_of_range())?;
        if (1..=max).contains(&n) {
            Ok(n)
        } else {
            Err(out_of_range())
        }
    }
}
