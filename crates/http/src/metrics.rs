//! Prometheus metrics (`GET /metrics`, api.md §3): requests and their latency by route and
//! status, logged-in users, waiting polls, open event streams, events appended and delivered,
//! mail sent, retried and failed.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::error::ApiError;
use crate::state::Api;

/// The server's metrics, registered once and shared by every worker.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pub waiting_polls: IntGauge,
    pub open_streams: IntGauge,
    pub events_delivered: IntCounter,
    events_appended: IntGauge,
    logged_in_users: IntGauge,
    pub mail_sent: IntCounter,
    pub mail_retried: IntCounter,
    pub mail_failed: IntCounter,
}

impl Metrics {
    /// # Errors
    /// Only if two metrics had the same name, which would be a programming error.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("chatty".into()), None)?;
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method, route and status",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["method", "route", "status"],
        )?;
        let gauge = |name: &str, help: &str| IntGauge::new(name, help);
        let counter = |name: &str, help: &str| IntCounter::new(name, help);
        let metrics = Self {
            requests,
            latency,
            waiting_polls: gauge("waiting_polls", "long polls waiting for an event")?,
            open_streams: gauge("open_event_streams", "open Server-Sent Events streams")?,
            events_delivered: counter(
                "events_delivered_total",
                "events written to polls and streams",
            )?,
            events_appended: gauge(
                "events_appended",
                "id of the newest event (events appended so far)",
            )?,
            logged_in_users: gauge("logged_in_users", "users with a live session")?,
            mail_sent: counter("mail_sent_total", "mails delivered to the SMTP server")?,
            mail_retried: counter(
                "mail_retried_total",
                "delivery attempts that will be retried",
            )?,
            mail_failed: counter("mail_failed_total", "mails given up for good")?,
            registry,
        };
        metrics
            .registry
            .register(Box::new(metrics.requests.clone()))?;
        metrics
            .registry
            .register(Box::new(metrics.latency.clone()))?;
        for gauge in [
            &metrics.waiting_polls,
            &metrics.open_streams,
            &metrics.events_appended,
            &metrics.logged_in_users,
        ] {
            metrics.registry.register(Box::new(gauge.clone()))?;
        }
        for counter in [
            &metrics.events_delivered,
            &metrics.mail_sent,
            &metrics.mail_retried,
            &metrics.mail_failed,
        ] {
            metrics.registry.register(Box::new(counter.clone()))?;
        }
        Ok(metrics)
    }

    fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// A gauge raised for as long as the guard lives.
pub(crate) struct Raised(IntGauge);

impl Raised {
    pub(crate) fn new(gauge: &IntGauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Raised {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Counts and times every request by its route pattern (never the raw path, so static files
/// and bad URLs cannot blow up the number of series).
pub(crate) async fn measure(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let metrics = req.app_data::<Api>().cloned();
    let response = next.call(req).await?;
    if let Some(api) = metrics {
        let route = response
            .request()
            .app_data::<crate::routes::RoutePattern>()
            .map_or("other", |p| p.0);
        let status = response.status().as_u16().to_string();
        let m = &api.metrics;
        m.requests
            .with_label_values(&[&method, route, &status])
            .inc();
        m.latency
            .with_label_values(&[&method, route, &status])
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// `GET /metrics` → 200 in Prometheus' text format.
pub async fn scrape(api: Api) -> Result<HttpResponse, ApiError> {
    // The store's figures are read at scrape time; an unreachable store leaves them as they were.
    if let Ok(users) = api.services.logged_in_count().await {
        api.metrics
            .logged_in_users
            .set(i64::try_from(users).unwrap_or(i64::MAX));
    }
    if let Ok(last) = api.services.last_event_id().await {
        api.metrics
            .events_appended
            .set(i64::try_from(last.0).unwrap_or(i64::MAX));
    }
    let text = api
        .metrics
        .render()
        .map_err(|e| ApiError::Domain(chatty_domain::Error::Internal(Box::new(e))))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
