//! Figures: percentiles, loss counting, the table on stdout and the JSON file.
//!
//! Latencies are kept as every sample in microseconds and sorted: a run holds at most a few
//! million, so exact percentiles cost less than a histogram dependency.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil();
    // The rank is in 1..=len: the cast cannot truncate a meaningful value.
    let index = (rank as usize).clamp(1, sorted.len()) - 1;
    Some(sorted[index])
}

/// p50, p99 and max of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// `None` when there is no sample.
    pub fn of(mut micros: Vec<u64>) -> Option<Self> {
        micros.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Self {
            count: micros.len(),
            p50_ms: ms(percentile(&micros, 50.0)?),
            p99_ms: ms(percentile(&micros, 99.0)?),
            max_ms: ms(*micros.last()?),
        })
    }

    pub fn json(&self) -> Value {
        json!({
            "count": self.count,
            "p50_ms": round3(self.p50_ms),
            "p99_ms": round3(self.p99_ms),
            "max_ms": round3(self.max_ms),
        })
    }
}

/// Gives each row the share of CPU time the host took while its scenario ran, unless the row
/// measured its own over a shorter span (a fan-out phase).
pub fn note_steal(rows: &mut [Row], steal: Option<f64>) {
    for row in rows {
        if let Some(details) = row.details.as_object_mut() {
            details
                .entry("steal_percent")
                .or_insert(serde_json::json!(steal));
        }
    }
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// What the receivers got, measured against what the posters had accepted.
#[derive(Debug, Default, PartialEq)]
pub struct Tally {
    /// Accepted messages received, first copy only, summed over receivers.
    pub delivered: u64,
    /// Accepted messages a receiver never got, summed over receivers.
    pub lost: u64,
    /// Second and later copies of one message at one receiver.
    pub duplicates: u64,
    /// Messages received that no poster saw accepted (another phase's, a failed post's).
    pub unexpected: u64,
    /// Receive instant − accept instant, per delivered message, 0 when the event beat the
    /// post's response.
    pub latencies_us: Vec<u64>,
    /// Per accepted message that reached anyone: the latency of its first and of its last
    /// receiver. The first says how long the server took before it answered anybody; the gap
    /// to the last, how long it took to answer everybody.
    pub first_us: Vec<u64>,
    pub last_us: Vec<u64>,
}

/// Matches each receiver's log of `(message id, receive µs)` with `accepted`
/// (message id → accept µs).
pub fn tally(accepted: &HashMap<u64, u64>, receivers: &[Vec<(u64, u64)>]) -> Tally {
    let mut t = Tally::default();
    // Message id → (first, last) latency over its receivers.
    let mut spread: HashMap<u64, (u64, u64)> = HashMap::with_capacity(accepted.len());
    for log in receivers {
        let mut seen = HashSet::with_capacity(log.len());
        let mut got = 0u64;
        for &(id, received) in log {
            if !seen.insert(id) {
                t.duplicates += 1;
            } else if let Some(&at) = accepted.get(&id) {
                got += 1;
                let latency = received.saturating_sub(at);
                t.latencies_us.push(latency);
                let (first, last) = spread.entry(id).or_insert((latency, latency));
                *first = (*first).min(latency);
                *last = (*last).max(latency);
            } else {
                t.unexpected += 1;
            }
        }
        t.delivered += got;
        t.lost += accepted.len() as u64 - got;
    }
    (t.first_us, t.last_us) = spread.into_values().unzip();
    t
}

/// One line of the report: a scenario on a server in one variant.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: &'static str,
    pub server: String,
    pub variant: String,
    pub clients: usize,
    /// The scenario's main throughput: accepted posts/s (fanout), requests/s (request).
    pub ops_per_s: Option<f64>,
    /// Events received per second, all receivers together (fanout).
    pub delivered_per_s: Option<f64>,
    pub latency: Option<Summary>,
    pub lost: Option<u64>,
    pub duplicates: Option<u64>,
    pub errors: u64,
    pub rss_kib: Option<u64>,
    /// Why the scenario could not be measured.
    pub failure: Option<String>,
    /// Every figure, for the JSON file.
    pub details: Value,
}

impl Row {
    pub fn new(scenario: &'static str, server: &str, variant: &str, clients: usize) -> Self {
        Self {
            scenario,
            server: server.to_owned(),
            variant: variant.to_owned(),
            clients,
            ops_per_s: None,
            delivered_per_s: None,
            latency: None,
            lost: None,
            duplicates: None,
            errors: 0,
            rss_kib: None,
            failure: None,
            details: json!({}),
        }
    }

    pub fn failed(mut self, why: String) -> Self {
        self.failure = Some(why);
        self
    }

    /// Measured, and nothing lost or duplicated.
    pub fn ok(&self) -> bool {
        self.failure.is_none() && self.lost.unwrap_or(0) == 0 && self.duplicates.unwrap_or(0) == 0
    }

    fn status(&self) -> String {
        if self.failure.is_some() {
            "FAILED".into()
        } else if self.lost.unwrap_or(0) > 0 {
            "LOST".into()
        } else if self.duplicates.unwrap_or(0) > 0 {
            "DUPLICATES".into()
        } else if self.errors > 0 {
            "errors".into()
        } else {
            "ok".into()
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "scenario": self.scenario,
            "server": self.server,
            "variant": self.variant,
            "clients": self.clients,
            "ops_per_s": self.ops_per_s.map(round3),
            "delivered_per_s": self.delivered_per_s.map(round3),
            "latency": self.latency.map(|l| l.json()),
            "lost": self.lost,
            "duplicates": self.duplicates,
            "errors": self.errors,
            "rss_kib": self.rss_kib,
            "status": self.status(),
            "failure": self.failure,
            "details": self.details,
        })
    }
}

/// The rows as an aligned text table, then one line per failure.
pub fn table(rows: &[Row]) -> String {
    let header = [
        "scenario", "server", "variant", "clients", "ops/s", "deliv/s", "p50 ms", "p99 ms",
        "max ms", "lost", "dup", "errors", "RSS MiB", "status",
    ];
    let opt = |x: Option<f64>, digits: usize| x.map_or("-".to_owned(), |x| format!("{x:.digits$}"));
    let count = |x: Option<u64>| x.map_or("-".to_owned(), |x| x.to_string());
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.scenario.to_owned(),
                r.server.clone(),
                r.variant.clone(),
                r.clients.to_string(),
                opt(r.ops_per_s, 0),
                opt(r.delivered_per_s, 0),
                opt(r.latency.map(|l| l.p50_ms), 2),
                opt(r.latency.map(|l| l.p99_ms), 2),
                opt(r.latency.map(|l| l.max_ms), 2),
                count(r.lost),
                count(r.duplicates),
                r.errors.to_string(),
                opt(r.rss_kib.map(|k| k as f64 / 1024.0), 1),
                r.status(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                // Names left-aligned, figures right-aligned.
                if i < 3 || i == cells.len() - 1 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(&header.map(str::to_owned));
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
        out.push('\n');
    }
    for r in rows {
        if let Some(why) = &r.failure {
            out.push_str(&format!(
                "FAILED {} / {} / {}: {why}\n",
                r.scenario, r.server, r.variant
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[1, 2], 50.0), Some(1));
        assert_eq!(percentile(&[1, 2], 99.0), Some(2));
        assert_eq!(percentile(&[], 50.0), None);
        let s = Summary::of(vec![3000, 1000, 2000]).unwrap();
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms, s.count), (2.0, 3.0, 3.0, 3));
        assert!(Summary::of(Vec::new()).is_none());
    }

    #[test]
    fn a_row_keeps_the_steal_it_measured_and_the_others_get_the_scenarios() {
        let mut phase = Row::new("fanout", "memory", "poll saturate", 10);
        phase.details = json!({ "steal_percent": 2.5, "lost": 0 });
        let mut rows = vec![phase, Row::new("idle", "memory", "poll", 10)];
        note_steal(&mut rows, Some(30.0));
        assert_eq!(rows[0].details, json!({ "steal_percent": 2.5, "lost": 0 }));
        assert_eq!(rows[1].details, json!({ "steal_percent": 30.0 }));
    }

    #[test]
    fn losses_duplicates_and_early_events() {
        let accepted: HashMap<u64, u64> = [(1, 100), (2, 200), (3, 300)].into();
        let receivers = vec![
            // All three, message 2 twice, message 3 before its post's answer came back.
            vec![(1, 150), (2, 260), (2, 270), (3, 290)],
            // Lost 2 and 3; 9 was never accepted.
            vec![(1, 1100), (9, 1200)],
        ];
        let t = tally(&accepted, &receivers);
        assert_eq!(t.delivered, 4);
        assert_eq!(t.lost, 2);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.unexpected, 1);
        assert_eq!(t.latencies_us, vec![50, 60, 0, 1000]);
        let mut spread: Vec<(u64, u64)> = t.first_us.into_iter().zip(t.last_us).collect();
        spread.sort_unstable();
        // Message 1 reached its receivers after 50 and 1000 µs; 2 and 3 only one receiver.
        assert_eq!(spread, vec![(0, 0), (50, 1000), (60, 60)]);
    }

    #[test]
    fn rows_with_losses_fail() {
        let mut r = Row::new("fanout", "memory", "poll", 10);
        assert!(r.ok());
        r.lost = Some(1);
        assert!(!r.ok());
        assert!(table(&[r]).contains("LOST"));
    }
}
