//! The request kinds the tool sends and the weighted mix that picks them.
//!
//! A kind maps to one route of the service's API, with the method and
//! route template the service uses in its own `http_requests_total`, so the
//! client's and the server's counters line up label for label.

use std::{fmt, str::FromStr};

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `GET /api/items`: the newest items.
    List,
    /// `POST /api/items`: create an item, remembered for `get`.
    Create,
    /// `GET /api/items/{id}`: read back an item this run created.
    Get,
    /// `GET /api/work?ms=N`: CPU-bound work on the server.
    Work,
    /// `GET /healthz`: the cheapest request, for raw-throughput benchmarks.
    Health,
}

impl Kind {
    /// Every kind, in the order reports list them.
    pub const ALL: [Kind; 5] = [
        Kind::List,
        Kind::Create,
        Kind::Get,
        Kind::Work,
        Kind::Health,
    ];

    /// The name used in `--mix` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::List => "list",
            Kind::Create => "create",
            Kind::Get => "get",
            Kind::Work => "work",
            Kind::Health => "health",
        }
    }

    /// The HTTP method.
    /// Whether the request stores something (the server's state changes).
    pub fn is_write(self) -> bool {
        self == Kind::Create
    }

    pub fn method(self) -> &'static str {
        match self {
            Kind::Create => "POST",
            _ => "GET",
        }
    }

    /// The route template, as the service labels it.
    pub fn route(self) -> &'static str {
        match self {
            Kind::List | Kind::Create => "/api/items",
            Kind::Get => "/api/items/{id}",
            Kind::Work => "/api/work",
            Kind::Health => "/healthz",
        }
    }

    /// Position in [`Kind::ALL`], for dense tables.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The weights of the kinds; a request's kind is drawn in proportion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; Kind::ALL.len()],
    total: u64,
}

/// The default mix: the original Locust user (list 3 : create 1) plus reads
/// of created items.
pub const DEFAULT_MIX: &str = "list=3,create=1,get=1,work=0";

impl Mix {
    /// The weight of one kind.
    pub fn weight(&self, kind: Kind) -> u32 {
        self.weights[kind.index()]
    }

    /// Picks a kind from a uniformly random `u64`.
    pub fn pick(&self, random: u64) -> Kind {
        let mut r = random % self.total;
        for kind in Kind::ALL {
            let w = u64::from(self.weight(kind));
            if r < w {
                return kind;
            }
            r -= w;
        }
        unreachable!("weights sum to total")
    }

    /// The kinds with a non-zero weight.
    pub fn kinds(&self) -> impl Iterator<Item = Kind> + '_ {
        Kind::ALL.into_iter().filter(|k| self.weight(*k) > 0)
    }
}

impl FromStr for Mix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut weights = [0u32; Kind::ALL.len()];
        let mut seen = [false; Kind::ALL.len()];
        for part in s.split(',') {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KIND=WEIGHT"))?;
            let kind = Kind::from_name(name.trim()).ok_or_else(|| {
                let names: Vec<_> = Kind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown request kind `{name}` in `{part}` (known: {})",
                    names.join(", ")
                )
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of `{name}` in `{part}` is not a whole number"))?;
            if std::mem::replace(&mut seen[kind.index()], true) {
                return Err(format!("`{name}` appears twice"));
            }
            weights[kind.index()] = weight;
        }
        let total = weights.iter().map(|w| u64::from(*w)).sum();
        if total == 0 {
            return Err("every weight is zero".into());
        }
        Ok(Mix { weights, total })
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<_> = self
            .kinds()
            .map(|k| format!("{}={}", k.name(), self.weight(k)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_picks_in_proportion() {
        let mix: Mix = "list=3,create=1".parse().unwrap();
        let picks: Vec<_> = (0..4).map(|r| mix.pick(r)).collect();
        assert_eq!(picks, [Kind::List, Kind::List, Kind::List, Kind::Create]);
        assert_eq!(mix.to_string(), "list=3,create=1");
    }

    #[test]
    fn names_the_bad_part() {
        let err = "list=3,lsit=1".parse::<Mix>().unwrap_err();
        assert!(err.contains("`lsit`"), "{err}");
        let err = "list=x".parse::<Mix>().unwrap_err();
        assert!(err.contains("`list=x`"), "{err}");
        assert!("list=0".parse::<Mix>().is_err());
        assert!("list=1,list=2".parse::<Mix>().is_err());
        assert!("list".parse::<Mix>().is_err());
    }
}
