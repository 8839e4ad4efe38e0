//! The legacy poll's server-side cursors, moved in batches.
//!
//! Every answer of the compatible poll moves its session's cursor in the table, so that the
//! next poll, on any instance, continues after it. One transaction per answer capped the
//! compatible poll at about 2,000 answers/s: a message to a chat of 1,000 waiting polls took
//! half a second to answer them all. Polls woken together now queue their moves, and one task
//! writes everything queued in one statement, a compare-and-set per session: a move applies
//! only if the cursor is still where the poll read it (and the session is the same one), so a
//! poll served by another instance meanwhile makes it fail, and the poll is served again from
//! the table. The answer goes out only once its move is committed.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use chatty_domain::ports::StoreError;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::sync::oneshot;

type PgPool = Pool<AsyncPgConnection>;

/// A cursor move waiting to be written.
struct Move {
    user_key: String,
    /// Identifies the session: a new login of the name starts at a later event.
    first_event: i64,
    from: i64,
    to: i64,
    done: oneshot::Sender<Result<bool, String>>,
}

#[derive(Default)]
struct Queue {
    moves: Vec<Move>,
    writing: bool,
}

#[derive(Default)]
pub(crate) struct CursorMoves(Mutex<Queue>);

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = Text)]
    user_key: String,
}

impl CursorMoves {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the cursor of the session (`user_key`, `first_event`) from `from` to `to`:
    /// `Ok(false)` when it was not at `from` any more (or the session is gone).
    pub(crate) async fn compare_and_set(
        self: &Arc<Self>,
        pool: &PgPool,
        user_key: &str,
        first_event: i64,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        let (done, result) = oneshot::channel();
        let start_writer = {
            let mut queue = self.queue();
            queue.moves.push(Move {
                user_key: user_key.to_owned(),
                first_event,
                from,
                to,
                done,
            });
            !std::mem::replace(&mut queue.writing, true)
        };
        if start_writer {
            // A task of its own: a poll whose client goes away must not take the batch with it.
            let (moves, pool) = (Arc::clone(self), pool.clone());
            tokio::spawn(async move { moves.write_queued(pool).await });
        }
        match result.await {
            Ok(Ok(moved)) => Ok(moved),
            Ok(Err(e)) => Err(StoreError::Unavailable(e.into())),
            Err(_) => Err(StoreError::Unavailable("the cursor writer stopped".into())),
        }
    }

    async fn write_queued(&self, pool: PgPool) {
        loop {
            let batch = {
                let mut queue = self.queue();
                if queue.moves.is_empty() {
                    queue.writing = false;
                    return;
                }
                // One move per session and statement; a second one waits for the next.
                let mut seen = HashSet::new();
                let (now, later): (Vec<Move>, Vec<Move>) = std::mem::take(&mut queue.moves)
                    .into_iter()
                    .partition(|m| seen.insert(m.user_key.clone()));
                queue.moves = later;
                now
            };
            let result = write(&pool, &batch).await;
            for m in batch {
                let outcome = match &result {
                    Ok(moved) => Ok(moved.contains(&m.user_key)),
                    Err(e) => Err(e.clone()),
                };
                // The poll may have gone: its move stands, the next poll reads it.
                let _ = m.done.send(outcome);
            }
        }
    }
}

/// One statement for the whole batch; the sessions whose cursor moved.
///
/// A single statement is its own transaction, and it costs one round trip: while a burst of
/// answers keeps the worker busy, every round trip waits its turn behind them, so the
/// `BEGIN`, settings, lock, update and `COMMIT` of a transaction took several times as long.
async fn write(pool: &PgPool, batch: &[Move]) -> Result<HashSet<String>, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let keys: Vec<&str> = batch.iter().map(|m| m.user_key.as_str()).collect();
    let firsts: Vec<i64> = batch.iter().map(|m| m.first_event).collect();
    let froms: Vec<i64> = batch.iter().map(|m| m.from).collect();
    let tos: Vec<i64> = batch.iter().map(|m| m.to).collect();
    // `settings`: as for a single move, the commit need not wait for the disk; should Postgres
    // crash right after, the events are delivered again, never lost. `set_config(.., true)`
    // lasts for this statement's transaction, and the update reads the CTE so that it runs.
    // `locked`: the rows are locked in the order every batched session write uses
    // (`sessions::lock_in_order`), before the update touches any of them, so two overlapping
    // batches wait for each other instead of deadlocking. A CTE that locks rows is evaluated
    // as written, never folded into the update.
    let moved: Vec<Moved> = diesel::sql_query(
        "WITH settings AS (SELECT set_config('synchronous_commit', 'off', true) AS commit), \
              locked AS (SELECT user_key FROM sessions WHERE user_key = ANY($1) \
                         ORDER BY user_key COLLATE \"C\" FOR UPDATE) \
         UPDATE sessions s SET cursor = v.to_id \
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
              AS v(user_key, first_event, from_id, to_id), settings \
         WHERE s.user_key = v.user_key AND s.first_event = v.first_event \
           AND s.cursor = v.from_id AND settings.commit = 'off' \
           AND s.user_key IN (SELECT user_key FROM locked) \
         RETURNING s.user_key",
    )
    .bind::<Array<Text>, _>(keys)
    .bind::<Array<BigInt>, _>(firsts)
    .bind::<Array<BigInt>, _>(froms)
    .bind::<Array<BigInt>, _>(tos)
    .load(&mut conn)
    .await
    .map_err(|e| e.to_string())?;
    Ok(moved.into_iter().map(|m| m.user_key).collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Two batches over the same sessions, each in its own (hash) order, many times at once:
    /// the statement locks its rows in one order first, so neither is ever aborted as a
    /// deadlock.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overlapping_batches_wait_for_each_other_instead_of_deadlocking() {
        let (_db, pool) = crate::PgStore::test_pool_with_sessions(300).await;
        crate::run_overlapping(&pool, async |pool| {
            // A map of its own per batch: its own iteration order. Each move leaves the
            // cursor where it is, so every one applies and locks its row.
            let keys: HashMap<String, ()> = (1..=300).map(|n| (format!("u{n}"), ())).collect();
            let batch: Vec<Move> = keys
                .into_keys()
                .map(|user_key| Move {
                    user_key,
                    first_event: 1,
                    from: 0,
                    to: 0,
                    done: oneshot::channel().0,
                })
                .collect();
            let moved = write(&pool, &batch).await?;
            assert_eq!(moved.len(), 300);
            Ok(())
        })
        .await;
    }
}
