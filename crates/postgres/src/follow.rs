//! Following the events other instances append: `LISTEN chatty_events` on a dedicated
//! connection. A notification is only a wake-up hint (design.md, trap 2): waiters always read
//! the table, the listener catches up from the table after every (re)connect, and a slow safety
//! tick re-reads it too, so a dropped connection or a lost notification delays nothing for
//! longer than the tick.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tracing::{info, warn};

use crate::PgStore;

/// Re-read the table even without notifications this often.
const SAFETY_TICK: Duration = Duration::from_secs(5);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);

impl PgStore {
    /// Listens for appends of other instances and wakes the polls waiting here. Runs until the
    /// task is dropped; reconnects with backoff when the connection fails.
    pub async fn follow(self: Arc<Self>) {
        let mut retry = FIRST_RETRY;
        loop {
            match self.listen_once().await {
                Ok(()) => retry = FIRST_RETRY,
                Err(e) => {
                    warn!(error = %e, retry_ms = retry.as_millis() as u64, "event listener disconnected; reconnecting")
                }
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(LAST_RETRY);
        }
    }

    async fn listen_once(&self) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mut conn = AsyncPgConnection::establish(&self.url).await?;
        diesel::sql_query("LISTEN chatty_events")
            .execute(&mut conn)
            .await?;
        info!("listening for events of other instances");
        // Anything appended while we were not listening is found in the table.
        self.refresh().await?;
        let mut notifications = std::pin::pin!(conn.notifications_stream());
        loop {
            tokio::select! {
                next = notifications.next() => match next {
                    Some(Ok(notification)) => match notification.payload.parse::<u64>() {
                        Ok(last) => self.load_and_announce(last).await,
                        // `pruned` (retention deleted events by age), or anything else.
                        Err(_) => { self.refresh().await?; }
                    },
                    Some(Err(e)) => return Err(Box::new(e)),
                    None => return Err("the listening connection closed".into()),
                },
                () = tokio::time::sleep(SAFETY_TICK) => { self.refresh().await?; }
            }
        }
    }
}
