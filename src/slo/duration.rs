//! Prometheus' duration syntax (`5m`, `1h30m`, `3d`, `250ms`): parsed into
//! and written from milliseconds, the way Prometheus 2.x and 3.x both read
//! it in range selectors, `for:` and configuration.

use std::fmt;
use std::str::FromStr;

/// The units, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// A duration in Prometheus' syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration {
    pub ms: u64,
}

impl PromDuration {
    pub const fn from_secs(secs: u64) -> PromDuration {
        PromDuration { ms: secs * 1000 }
    }

    pub fn as_secs_f64(self) -> f64 {
        self.ms as f64 / 1000.0
    }

    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.ms)
    }
}

impl FromStr for PromDuration {
    type Err = String;

    /// Units in decreasing order, each at most once, as Prometheus wants.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 3d)");
        if s.is_empty() {
            return Err(bad());
        }
        let mut rest = s;
        let mut ms: u64 = 0;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(bad());
            }
            let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            // "ms" before "m": the longest unit that matches here.
            let (i, (unit, len)) = UNITS
                .iter()
                .enumerate()
                .filter(|(_, (u, _))| rest.starts_with(u))
                .max_by_key(|(_, (u, _))| u.len())
                .ok_or_else(bad)?;
            if i < next_unit {
                return Err(bad());
            }
            next_unit = i + 1;
            rest = &rest[unit.len()..];
            ms = n
                .checked_mul(*len)
                .and_then(|v| v.checked_add(ms))
                .ok_or_else(bad)?;
        }
        if ms == 0 {
            return Err(format!("`{s}`: a duration must be longer than zero"));
        }
        Ok(PromDuration { ms })
    }
}

impl fmt::Display for PromDuration {
    /// Largest units first (`90000` ms is `1m30s`); weeks and years are
    /// written as days, which reads better for SLO windows (`30d`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ms == 0 {
            return f.write_str("0s");
        }
        let mut left = self.ms;
        for (unit, len) in UNITS.iter().filter(|(u, _)| *u != "y" && *u != "w") {
            if left >= *len {
                write!(f, "{}{unit}", left / len)?;
                left %= len;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PromDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> u64 {
        s.parse::<PromDuration>().unwrap().ms
    }

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(d("250ms"), 250);
        assert_eq!(d("5m"), 300_000);
        assert_eq!(d("1h30m"), 5_400_000);
        assert_eq!(d("3d"), 259_200_000);
        assert_eq!(d("1w"), 604_800_000);
        assert_eq!(d("1m30s500ms"), 90_500);
        for bad in ["", "5", "m", "5x", "30m1h", "1m1m", "0s", "-1s", "1.5h"] {
            assert!(bad.parse::<PromDuration>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn writes_largest_units_first() {
        for (ms, text) in [
            (90_000, "1m30s"),
            (2_592_000_000, "30d"),
            (250, "250ms"),
            (8_000, "8s"),
            (604_800_000, "7d"),
        ] {
            assert_eq!(PromDuration { ms }.to_string(), text);
            assert_eq!(d(text), ms);
        }
    }
}
