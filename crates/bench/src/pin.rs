//! Splitting the machine's cores between the server and the load generator.
//!
//! On one machine the two compete for the same cores. Left to the scheduler, a generator thread
//! preempts a server worker in the middle of a fan-out (or the other way round), and a thousand
//! deliveries wait for a time slice: on 2 cores the fan-out p99 at C=1,000 swung between 16
//! and 44 ms from run to run. So when the bench starts the server, by default the server runs
//! on the first half of the cores the bench may use and the bench on the other half (the
//! server's worker count follows: actix starts one per core it may run on). Postgres is left
//! to the scheduler. Pinning goes through `taskset` (util-linux) because the workspace forbids
//! the `unsafe` a direct `sched_setaffinity` call needs.

use std::process::Command;

/// Which CPUs the server and the bench run on, as `taskset -c` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub server: String,
    pub bench: String,
    pub bench_cores: usize,
}

/// A CPU list as the kernel writes it (`0-3,8,10-11`).
pub fn parse_list(list: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to): (usize, usize) = (from.parse().ok()?, to.parse().ok()?);
                if from > to {
                    return None;
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

fn format_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The first half of `cpus` for the server, the rest for the bench; `None` below two CPUs.
pub fn split(cpus: &[usize]) -> Option<Split> {
    if cpus.len() < 2 {
        return None;
    }
    let (server, bench) = cpus.split_at(cpus.len() / 2);
    Some(Split {
        server: format_list(server),
        bench: format_list(bench),
        bench_cores: bench.len(),
    })
}

/// The CPUs this process may run on, from `/proc/self/status`.
pub fn allowed() -> Option<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
    parse_list(line)
}

/// Restricts every thread of this process (the coordinator; the worker threads started later
/// inherit it) to `cpus`.
pub fn pin_self(cpus: &str) -> Result<(), String> {
    let pid = std::process::id().to_string();
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("taskset: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cpus} {pid}: {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_read_and_halved() {
        assert_eq!(
            parse_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(parse_list("x"), None);
        assert_eq!(split(&[0]), None);
        let two = split(&[0, 1]).unwrap();
        assert_eq!((two.server.as_str(), two.bench.as_str()), ("0", "1"));
        let odd = split(&[2, 4, 5, 7, 9]).unwrap();
        assert_eq!((odd.server.as_str(), odd.bench.as_str()), ("2,4", "5,7,9"));
        assert_eq!(odd.bench_cores, 3);
    }
}
