//! The legacy poll's server-side cursors, moved in batches.
//!
//! Every answer of the compatible poll moves its session's cursor in the table, so that the
//! next poll, on any instance, continues after it. One transaction per answer capped the
//! compatible poll at about 2,000 answers/s: a message to a chat of 1,000 waiting polls took
//! half a second to answer them all. Polls woken together now queue their moves, and a writer
//! task writes everything queued in one statement, a compare-and-set per session: a move
//! applies only if the cursor is still where the poll read it (and the session is the same
//! one), so a poll served by another instance meanwhile makes it fail, and the poll is served
//! again from the table. The answer goes out only once its move is committed.
//!
//! The writer waits until the queue stops growing before it takes it. actix runs its
//! connections as local tasks, 61 of them between two turns of the runtime's own tasks, so a
//! writer that took the queue at once took a sixty-first of a burst: a message to 1,000
//! waiting polls was written in five to eight statements in a row, each waiting for the one
//! before, and the last answers came 15 to 20 ms later than with one statement. Two writers may
//! run at once, so moves queued after a writer has taken its batch do not wait for its
//! statement; a session is in one statement at a time, so its moves apply in order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use chatty_domain::ports::StoreError;
use diesel::QueryableByName;
use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::sync::oneshot;

type PgPool = Pool<AsyncPgConnection>;

/// The most writers at once.
const WRITERS: usize = 2;
/// The most turns a writer waits for the queue to stop growing: under a steady stream of polls
/// it never would, and the moves queued so far must still be written.
const SETTLE_TURNS: usize = 32;

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
    /// Sessions whose move a statement is writing: a second move of one waits for it, so that
    /// the two apply in order.
    writing: HashSet<String>,
    writers: usize,
}

impl Queue {
    /// The queued moves of sessions not being written, oldest first, one per session.
    fn take_batch(&mut self) -> Vec<Move> {
        let (batch, rest) = std::mem::take(&mut self.moves)
            .into_iter()
            .partition(|m| self.writing.insert(m.user_key.clone()));
        self.moves = rest;
        batch
    }
}

#[derive(Default)]
pub(crate) struct CursorMoves {
    queue: Mutex<Queue>,
    /// Statements written, for the tests.
    #[cfg(test)]
    statements: std::sync::atomic::AtomicUsize,
}

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = Text)]
    user_key: String,
}

impl CursorMoves {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
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
            let start = queue.writers < WRITERS;
            queue.writers += usize::from(start);
            start
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
            self.settle().await;
            let batch = {
                let mut queue = self.queue();
                let batch = queue.take_batch();
                if batch.is_empty() {
                    queue.writers -= 1;
                    return;
                }
                batch
            };
            let result = write(&pool, &batch).await;
            #[cfg(test)]
            self.statements
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut queue = self.queue();
            for m in batch {
                queue.writing.remove(&m.user_key);
                let outcome = match &result {
                    Ok(moved) => Ok(moved.contains(&m.user_key)),
                    Err(e) => Err(e.clone()),
                };
                // The poll may have gone: its move stands, the next poll reads it.
                let _ = m.done.send(outcome);
            }
        }
    }

    #[cfg(test)]
    fn statements(&self) -> usize {
        // Spelled out: diesel's `RunQueryDsl::load`, in scope here, would take the method call.
        std::sync::atomic::AtomicUsize::load(&self.statements, std::sync::atomic::Ordering::Relaxed)
    }

    /// Returns once the queue stopped growing while the other tasks ran (or after
    /// `SETTLE_TURNS` turns).
    async fn settle(&self) {
        let mut queued = self.queue().moves.len();
        for _ in 0..SETTLE_TURNS {
            tokio::task::yield_now().await;
            let now = self.queue().moves.len();
            if now == queued {
                return;
            }
            queued = now;
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
    // `locked`: the rows are locked in the order every batched session write uses, so two
    // overlapping batches wait for each other instead of deadlocking.
    let moved: Vec<Moved> = diesel::sql_query(concat!(
        "WITH settings AS (SELECT set_config('synchronous_commit', 'off', true) AS commit), ",
        crate::sessions::locked_in_order!(),
        " UPDATE sessions s SET cursor = v.to_id \
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
              AS v(user_key, first_event, from_id, to_id), settings \
         WHERE s.user_key = v.user_key AND s.first_event = v.first_event \
           AND s.cursor = v.from_id AND settings.commit = 'off' \
           AND s.user_key IN (SELECT user_key FROM locked) \
         RETURNING s.user_key",
    ))
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

    /// As actix runs them: 1,000 polls on one thread's local task set, woken together, each
    /// moving its cursor. Their moves go out in one statement, not a sixty-first at a time,
    /// and every move applies.
    #[tokio::test(flavor = "current_thread")]
    async fn moves_of_polls_woken_together_are_written_in_one_statement() {
        let (_db, pool) = crate::PgStore::test_pool_with_sessions(1000).await;
        let moves = Arc::new(CursorMoves::default());
        let (start, started) = tokio::sync::watch::channel(false);
        let local = tokio::task::LocalSet::new();
        let polls: Vec<_> = (1..=1000)
            .map(|n| {
                let (moves, pool, mut started) =
                    (Arc::clone(&moves), pool.clone(), started.clone());
                local.spawn_local(async move {
                    let _ = started.wait_for(|started| *started).await;
                    moves
                        .compare_and_set(&pool, &format!("u{n}"), 1, 0, 7)
                        .await
                })
            })
            .collect();
        local
            .run_until(async {
                start.send_replace(true);
                for poll in polls {
                    assert!(
                        poll.await
                            .expect("the poll runs")
                            .expect("the move is written")
                    );
                }
            })
            .await;
        assert_eq!(moves.statements(), 1);
    }

    /// Two moves of one session queued together: the second waits for the first's statement
    /// instead of joining it (where it would find the cursor not yet moved), so both apply.
    #[tokio::test(flavor = "current_thread")]
    async fn two_moves_of_one_session_apply_in_order() {
        let (_db, pool) = crate::PgStore::test_pool_with_sessions(1).await;
        let moves = Arc::new(CursorMoves::default());
        let (first, second) = tokio::join!(
            moves.compare_and_set(&pool, "u1", 1, 0, 5),
            moves.compare_and_set(&pool, "u1", 1, 5, 9),
        );
        assert!(first.expect("the first move is written"));
        assert!(second.expect("the second move is written"));
        assert_eq!(moves.statements(), 2);
        // A move from where the cursor no longer is does not apply.
        let stale = moves.compare_and_set(&pool, "u1", 1, 5, 12).await;
        assert!(!stale.expect("the stale move is answered"));
    }
}
