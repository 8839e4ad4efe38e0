//! The long poll.

use actix_web::{HttpResponse, web};
use chatty_domain::{PollOutcome, PollRequest};
use serde::Deserialize;

use crate::error::ApiError;
use crate::response::{empty_ok, json_ok};
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
pub async fn poll(
    Me(me): Me,
    query: web::Query<PollQuery>,
    api: Api,
) -> Result<HttpResponse, ApiError> {
    let request = PollRequest {
        after: query.after.as_deref(),
        limit: query.limit.as_deref(),
    };
    let wait = tokio::time::sleep(api.settings.poll_wait);
    let mut shutdown = api.shutdown.clone();
    let give_up = async move {
        tokio::select! {
            () = wait => {}
            _ = shutdown.wait_for(|stopping| *stopping) => {}
        }
    };
    Ok(match api.services.poll(&me, request, give_up).await? {
        PollOutcome::Delivered(batch) if query.limit.is_some() => json_ok(&batch),
        PollOutcome::Delivered(batch) => match batch.first() {
            Some(first) => json_ok(first),
            None => empty_ok(),
        },
        PollOutcome::TimedOut | PollOutcome::SessionEnded => empty_ok(),
    })
}
