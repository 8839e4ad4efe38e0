//! Sessions' last activity, written in batches off the request path.
//!
//! Activity decides when the sweep ends an idle session; it is kept to the second (see
//! `sessions::activity_is_due`). With a thousand clients polling, a write per session per
//! second is a thousand commits a second, each waiting for a WAL flush. Requests now only note
//! the time; one task writes everything noted in one statement, without waiting for the disk
//! (after a crash of Postgres a session may look idle a few seconds early).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use diesel::sql_types::{Array, Text, Timestamptz};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tracing::warn;

#[derive(Default)]
struct Pending {
    times: HashMap<String, DateTime<Utc>>,
    writing: bool,
}

#[derive(Default)]
pub(crate) struct ActivityWrites {
    pending: Mutex<Pending>,
    /// Held while a batch is written, so that `flush` also waits for one in flight.
    writing: tokio::sync::Mutex<()>,
}

impl ActivityWrites {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what is noted now, after any batch in flight: the sweep reads activity from the
    /// table and must see what this instance noted before it.
    pub(crate) async fn flush(&self, pool: &Pool<AsyncPgConnection>) -> Result<(), String> {
        let _writing = self.writing.lock().await;
        let times = std::mem::take(&mut self.pending().times);
        if times.is_empty() {
            return Ok(());
        }
        write(pool, times).await
    }

    /// Notes that the session of `user_key` was active at `at`; written shortly.
    pub(crate) fn note(
        self: &Arc<Self>,
        pool: &Pool<AsyncPgConnection>,
        user_key: &str,
        at: DateTime<Utc>,
    ) {
        let start_writer = {
            let mut pending = self.pending();
            let time = pending.times.entry(user_key.to_owned()).or_insert(at);
            *time = (*time).max(at);
            !std::mem::replace(&mut pending.writing, true)
        };
        if start_writer {
            let (writes, pool) = (Arc::clone(self), pool.clone());
            tokio::spawn(async move { writes.write_pending(pool).await });
        }
    }

    async fn write_pending(&self, pool: Pool<AsyncPgConnection>) {
        loop {
            let _writing = self.writing.lock().await;
            let times = {
                let mut pending = self.pending();
                if pending.times.is_empty() {
                    pending.writing = false;
                    return;
                }
                std::mem::take(&mut pending.times)
            };
            if let Err(e) = write(&pool, times).await {
                // The next request of each session notes its activity again.
                warn!(error = %e, "could not record session activity");
            }
        }
    }
}

/// One statement, like the cursor moves' (`cursors::write`): a transaction of several round
/// trips would hold its row locks while each round trip waits for a turn on a worker busy
/// with a burst of answers, and a batch of cursor moves over the same sessions would wait for
/// all of them.
async fn write(
    pool: &Pool<AsyncPgConnection>,
    times: HashMap<String, DateTime<Utc>>,
) -> Result<(), String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let (keys, times): (Vec<String>, Vec<DateTime<Utc>>) = times.into_iter().unzip();
    // `settings`: the commit need not wait for the disk (see the module's comment).
    diesel::sql_query(concat!(
        "WITH settings AS (SELECT set_config('synchronous_commit', 'off', true) AS commit), ",
        crate::sessions::locked_in_order!(),
        " UPDATE sessions s SET last_active = v.at \
         FROM unnest($1::text[], $2::timestamptz[]) AS v(user_key, at), settings \
         WHERE s.user_key = v.user_key AND s.last_active < v.at \
           AND settings.commit = 'off' AND s.user_key IN (SELECT user_key FROM locked)",
    ))
    .bind::<Array<Text>, _>(keys)
    .bind::<Array<Timestamptz>, _>(times)
    .execute(&mut conn)
    .await
    .map(drop)
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    /// Two batches over the same sessions, each in its own (hash) order, many times at once:
    /// each takes its rows in one order, so neither is ever aborted as a deadlock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_batches_wait_for_each_other_instead_of_deadlocking() {
        let (_db, pool) = crate::PgStore::test_pool_with_sessions(300).await;
        crate::run_overlapping(&pool, async |pool| {
            // A map of its own per batch: its own iteration order.
            let times: HashMap<String, DateTime<Utc>> =
                (1..=300).map(|n| (format!("u{n}"), Utc::now())).collect();
            write(&pool, times).await
        })
        .await;
    }
}
