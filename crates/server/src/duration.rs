//! Go's duration syntax (`"60s"`, `"1m30s"`, `"500ms"`, `"1.5h"`), in which the original
//! server's `config.toml` writes every duration.
//!
//! The parser follows Go's `time.ParseDuration` (integer arithmetic, the same units, the same
//! range: at most `2562047h47m16.854775807s`) but refuses signs: no negative durations, and no
//! `+` either. The formatter writes what Go's `Duration.String` writes.

use std::time::Duration;

/// A string that is not a non-negative Go duration. Displays as one line quoting the input:
/// `invalid duration "1x": unknown unit "x" (use ns, us, ms, s, m or h)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    input: String,
    reason: String,
}

impl DurationError {
    /// The text that failed to parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// Why it failed, without the input.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// Go's `time.Duration` is an `int64` of nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;
/// Fraction digits beyond these weigh less than a nanosecond even in hours; ignored, as Go does.
const MAX_FRACTION_DIGITS: u32 = 18;
const UNITS_HINT: &str = "use ns, us, ms, s, m or h";

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Splits the leading ASCII digits off `s`.
fn split_digits(s: &str) -> (&str, &str) {
    s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()))
}

/// Parses a non-negative Go duration: `"0"`, or one or more numbers (optionally with a
/// fraction) each followed by a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`).
///
/// # Errors
/// Empty input, a number without unit (other than `0`), an unknown unit, a sign, white space,
/// a value above Go's range.
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason: String| DurationError {
        input: input.to_owned(),
        reason,
    };
    if input == "0" {
        return Ok(Duration::ZERO);
    }
    if input.is_empty() {
        return Err(fail(
            "empty (write for example \"60s\", \"1m30s\" or \"500ms\")".into(),
        ));
    }
    let too_large = || fail("too large (at most 2562047h47m16.854775807s)".into());

    let mut total: u128 = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let (whole, after_whole) = split_digits(rest);
        let (fraction, after_number) = match after_whole.strip_prefix('.') {
            Some(tail) => {
                let (fraction, tail) = split_digits(tail);
                (Some(fraction), tail)
            }
            None => (None, after_whole),
        };
        if whole.is_empty() && fraction.is_none_or(str::is_empty) {
            let found = rest.chars().next().unwrap_or_default();
            return Err(fail(match found {
                '-' => "must not be negative".into(),
                '+' => "must not have a sign".into(),
                '.' => format!("expected digits around \".\" at {rest:?}"),
                c if c.is_whitespace() => "must not contain white space".into(),
                _ => format!("expected a number at {rest:?}"),
            }));
        }
        let unit_len = after_number
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_number.len());
        let (unit, tail) = after_number.split_at(unit_len);
        let number = &rest[..rest.len() - after_number.len()];
        if unit.is_empty() {
            return Err(fail(format!(
                "missing unit after {number:?} ({UNITS_HINT})"
            )));
        }
        let scale = unit_nanos(unit)
            .ok_or_else(|| fail(format!("unknown unit {unit:?} ({UNITS_HINT})")))?;

        // Leading zeros cannot overflow; any other digit beyond 39 would overflow u128.
        let whole = whole.trim_start_matches('0');
        let mut nanos: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse::<u128>().map_err(|_| too_large())?
        };
        nanos = nanos.checked_mul(scale).ok_or_else(too_large)?;
        if let Some(fraction) = fraction {
            let kept = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS as usize)];
            if !kept.is_empty() {
                let digits = kept.parse::<u128>().map_err(|_| too_large())?;
                // Go truncates the fractional nanoseconds too.
                let exponent = u32::try_from(kept.len()).unwrap_or(MAX_FRACTION_DIGITS);
                nanos += digits * scale / 10u128.pow(exponent);
            }
        }
        total = total.checked_add(nanos).ok_or_else(too_large)?;
        if total > MAX_NANOS {
            return Err(too_large());
        }
        rest = tail;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC).map_err(|_| too_large())?;
    let subsec = u32::try_from(total % NANOS_PER_SEC).map_err(|_| too_large())?;
    Ok(Duration::new(secs, subsec))
}

/// `value` with its last `digits` decimal digits as a fraction, trailing zeros trimmed:
/// `(1500, 3)` → `"1.5"`, `(2000, 3)` → `"2"`.
fn with_fraction(value: u128, digits: u32) -> String {
    let unit = 10u128.pow(digits);
    let (whole, fraction) = (value / unit, value % unit);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = digits as usize;
    let fraction = format!("{fraction:0width$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// Writes a duration the way Go's `Duration.String` does: `0s`, `1.5µs`, `500ms`, `1.5s`,
/// `1m30s`, `2h45m0s`. The result parses back with [`parse_go_duration`].
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", with_fraction(nanos, 3));
    }
    if nanos < NANOS_PER_SEC {
        return format!("{}ms", with_fraction(nanos, 6));
    }
    let total_secs = d.as_secs();
    let (h, m) = (total_secs / 3600, total_secs / 60 % 60);
    let seconds = with_fraction(
        u128::from(total_secs % 60) * NANOS_PER_SEC + u128::from(d.subsec_nanos()),
        9,
    );
    match (h, m) {
        (0, 0) => format!("{seconds}s"),
        (0, m) => format!("{m}m{seconds}s"),
        (h, m) => format!("{h}h{m}m{seconds}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        let cases = [
            ("60s", Duration::from_secs(60)),
            ("1m30s", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(9900)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("300us", Duration::from_micros(300)),
            ("300µs", Duration::from_micros(300)),
            ("300μs", Duration::from_micros(300)),
            ("10ns", Duration::from_nanos(10)),
            ("48h", Duration::from_secs(172_800)),
            ("1h0.5s", Duration::from_millis(3_600_500)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("007s", Duration::from_secs(7)),
            ("1.000000001s", Duration::new(1, 1)),
            (
                "0.3333333333333333333333h",
                Duration::from_nanos(1_199_999_999_999),
            ),
            ("1m1m", Duration::from_secs(120)),
            (
                "2562047h47m16.854775807s",
                Duration::new(9_223_372_036, 854_775_807),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_refused_with_the_input_quoted() {
        for bad in [
            "", "60", "00", "1x", "-1s", "+1s", " 1s", "1s ", "1 s", "s", "1..5s", ".s", "1e3s",
            "1s-1s", "1.5", "ms1",
        ] {
            let err = parse_go_duration(bad).unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with(&format!("invalid duration {bad:?}: ")),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
            assert_eq!(err.input(), bad);
        }
    }

    #[test]
    fn error_messages_say_what_is_wrong() {
        let reason = |s: &str| parse_go_duration(s).unwrap_err().to_string();
        assert_eq!(
            reason("1x"),
            "invalid duration \"1x\": unknown unit \"x\" (use ns, us, ms, s, m or h)"
        );
        assert!(reason("60").contains("missing unit after \"60\""));
        assert!(reason("-1s").contains("must not be negative"));
        assert!(reason("+1s").contains("must not have a sign"));
        assert!(reason(" 1s").contains("white space"));
        assert!(reason("").contains("empty"));
    }

    #[test]
    fn values_beyond_go_range_overflow() {
        for big in [
            "2562047h47m16.854775808s",
            "2562048h",
            "99999999999999999999h",
            "9999999999999999999999999999999999999999999s",
            "2562047h2562047h",
        ] {
            assert!(
                parse_go_duration(big)
                    .unwrap_err()
                    .to_string()
                    .contains("too large"),
                "{big}"
            );
        }
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(300), "300µs"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(1_250), "1.25ms"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::new(1, 1), "1.000000001s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(9900), "2h45m0s"),
            (Duration::from_secs(172_800), "48h0m0s"),
        ];
        for (d, text) in cases {
            assert_eq!(format_go_duration(d), text, "{d:?}");
            assert_eq!(parse_go_duration(text), Ok(d), "{text} round-trips");
        }
    }
}
