//! The drill's time compression: the committed rule files with every
//! range selector (`[5m]`), `for:` and group `interval:` divided by the
//! scale, and never shorter than a floor of a few scrape intervals (a rate
//! needs samples). Thresholds, burn-rate factors and prediction horizons
//! (`predict_linear(…, 4 * 3600)`) stay: the drill injects faults as
//! strong as the real rules are meant to catch, and only waits less to see
//! them. Names keep their nominal windows (`slo:sli_error:ratio_rate1h`
//! reads one minute at a scale of 60).

use serde_yaml_ng::Value;

use crate::slo::duration::PromDuration;

/// How the drill compresses time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeScale {
    /// Every window and `for:` is divided by this.
    pub factor: u32,
    /// ... but never shorter than this.
    pub floor: PromDuration,
}

impl TimeScale {
    /// `d` scaled: divided by the factor, at least the floor, at most `d`.
    pub fn apply(self, d: PromDuration) -> PromDuration {
        let scaled = PromDuration {
            ms: d.ms / u64::from(self.factor.max(1)),
        };
        // Whole seconds read better and Prometheus takes them everywhere.
        let scaled = PromDuration {
            ms: scaled.ms.div_ceil(1000) * 1000,
        };
        scaled.max(self.floor).min(d)
    }

    /// A rules file's text with its windows scaled; errors name the rule.
    pub fn rules(self, yaml: &str) -> Result<String, String> {
        let mut doc: Value = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        let groups = doc
            .get_mut("groups")
            .and_then(Value::as_sequence_mut)
            .ok_or("no `groups` list")?;
        for group in groups {
            if let Some(v) = group.get_mut("interval") {
                *v = Value::String(self.duration(v)?);
            }
            let rules = group
                .get_mut("rules")
                .and_then(Value::as_sequence_mut)
                .ok_or("a group without `rules`")?;
            for rule in rules {
                let name = rule
                    .get("alert")
                    .or_else(|| rule.get("record"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                let at = |e: String| format!("rule {name}: {e}");
                for key in ["for", "keep_firing_for"] {
                    if let Some(v) = rule.get_mut(key) {
                        *v = Value::String(self.duration(v).map_err(at)?);
                    }
                }
                if let Some(Value::String(expr)) = rule.get_mut("expr") {
                    *expr = self.expr(expr).map_err(at)?;
                }
            }
        }
        let text = serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?;
        Ok(format!(
            "# The committed rules with every window and `for:` divided by {} (at least {}),\n\
             # written by `srelab lab --drill`: names keep their nominal windows.\n{text}",
            self.factor, self.floor
        ))
    }

    fn duration(self, v: &Value) -> Result<String, String> {
        let text = v.as_str().ok_or("a duration that is not a string")?;
        let d: PromDuration = text.parse()?;
        Ok(self.apply(d).to_string())
    }

    /// An expression with the durations of its range selectors and
    /// subqueries (`[5m]`, `[1h:1m]`) scaled; everything else, string
    /// literals included, as it was.
    pub fn expr(self, expr: &str) -> Result<String, String> {
        let mut out = String::with_capacity(expr.len());
        let mut chars = expr.char_indices();
        let mut quote: Option<char> = None;
        while let Some((i, c)) = chars.next() {
            match (quote, c) {
                (Some('`'), '`') => quote = None,
                (Some(q), '\\') if q != '`' => {
                    out.push(c);
                    if let Some((_, escaped)) = chars.next() {
                        out.push(escaped);
                    }
                    continue;
                }
                (Some(q), c) if c == q => quote = None,
                (None, '"' | '\'' | '`') => quote = Some(c),
                (None, '[') => {
                    let len = expr[i..]
                        .find(']')
                        .ok_or_else(|| format!("an unclosed `[` in {expr}"))?;
                    let inside = &expr[i + 1..i + len];
                    let scaled: Result<Vec<String>, String> = inside
                        .split(':')
                        .map(|part| match part.trim() {
                            "" => Ok(String::new()),
                            d => d.parse::<PromDuration>().map(|d| self.apply(d).to_string()),
                        })
                        .collect();
                    out.push('[');
                    out.push_str(&scaled?.join(":"));
                    out.push(']');
                    for _ in 0..len {
                        chars.next();
                    }
                    continue;
                }
                _ => {}
            }
            out.push(c);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALE: TimeScale = TimeScale {
        factor: 60,
        floor: PromDuration::from_secs(8),
    };

    #[test]
    fn windows_shrink_to_the_floor_at_least() {
        let s = |d: &str| SCALE.apply(d.parse().unwrap()).to_string();
        assert_eq!(s("1h"), "1m");
        assert_eq!(s("6h"), "6m");
        assert_eq!(s("3d"), "1h12m");
        assert_eq!(s("5m"), "8s");
        assert_eq!(s("10s"), "8s");
        assert_eq!(s("5s"), "5s", "never longer than it was");
    }

    #[test]
    fn expressions_keep_all_but_their_ranges() {
        assert_eq!(
            SCALE
                .expr(r#"predict_linear(m[30m], 4 * 3600) > 0.9 * rate(x{a="[1h]\"[5m]"}[1h:5m])"#)
                .unwrap(),
            r#"predict_linear(m[30s], 4 * 3600) > 0.9 * rate(x{a="[1h]\"[5m]"}[1m:8s])"#,
            "ranges scaled, string literals untouched"
        );
        assert!(SCALE.expr("rate(x[5m)").is_err());
        assert!(SCALE.expr("rate(x[soon])").is_err());
    }

    #[test]
    fn every_committed_rule_file_scales() {
        for (name, text) in crate::verify::assets::RULE_FILES {
            let scaled = SCALE.rules(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                scaled.contains("for: 8s") || !text.contains("for:"),
                "{name}"
            );
            assert!(
                !scaled.contains("[1h]") && !scaled.contains("[5m]"),
                "{name}"
            );
        }
    }
}
