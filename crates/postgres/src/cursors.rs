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
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use tokio::sync::oneshot;

use crate::TxError;

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

/// One transaction for the whole batch; the sessions whose cursor moved.
async fn write(pool: &PgPool, batch: &[Move]) -> Result<HashSet<String>, String> {
    let mut conn = pool.get().await.map_err(|e| e.to_string())?;
    let keys: Vec<&str> = batch.iter().map(|m| m.user_key.as_str()).collect();
    let firsts: Vec<i64> = batch.iter().map(|m| m.first_event).collect();
    let froms: Vec<i64> = batch.iter().map(|m| m.from).collect();
    let tos: Vec<i64> = batch.iter().map(|m| m.to).collect();
    let moved = conn
        .transaction::<_, TxError, _>(async move |c| {
            // As for a single move: should Postgres crash right after, the events are
            // delivered again, never lost.
            diesel::sql_query("SET LOCAL synchronous_commit = off")
                .execute(c)
                .await?;
            crate::sessions::lock_in_order(c, &keys).await?;
            let moved: Vec<Moved> = diesel::sql_query(
                "UPDATE sessions s SET cursor = v.to_id \
                 FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
                      AS v(user_key, first_event, from_id, to_id) \
                 WHERE s.user_key = v.user_key AND s.first_event = v.first_event \
                   AND s.cursor = v.from_id \
                 RETURNING s.user_key",
            )
            .bind::<Array<Text>, _>(keys)
            .bind::<Array<BigInt>, _>(firsts)
            .bind::<Array<BigInt>, _>(froms)
            .bind::<Array<BigInt>, _>(tos)
            .load(c)
            .await?;
            Ok(moved)
        })
        .await
        .map_err(|e| match e {
            TxError::Db(e) => e.to_string(),
            TxError::Store(e) => e.to_string(),
        })?;
    Ok(moved.into_iter().map(|m| m.user_key).collect())
}
