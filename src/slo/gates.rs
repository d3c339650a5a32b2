//! The `srelab load` gates that hold the SLOs during a run: an availability
//! SLO's budget is the largest error ratio (`--max-error-ratio`); a latency
//! SLO at 99% is a p99 limit per route (`--max-p99 ROUTE=THRESHOLD`).
//! A latency objective other than 99% has no p99 equivalent: it is named,
//! not approximated.

use super::rules::num;
use super::spec::{Kind, Spec};

/// The load options, and one note per SLO they cannot express.
pub fn gates(spec: &Spec) -> (Vec<String>, Vec<String>) {
    let mut args = Vec::new();
    let mut notes = Vec::new();
    // The tightest availability budget wins: one error-ratio gate per run.
    let budgets = spec
        .slos
        .iter()
        .filter(|s| s.kind == Kind::Availability)
        .map(|s| s.budget());
    if let Some(budget) = budgets.reduce(f64::min) {
        args.extend(["--max-error-ratio".to_owned(), num(budget)]);
    }
    for slo in spec.slos.iter().filter(|s| s.kind == Kind::Latency) {
        let Some(threshold) = slo.threshold else {
            continue;
        };
        if (slo.objective - 0.99).abs() > 1e-9 {
            notes.push(format!(
                "slo {}: objective {} is not a p99; srelab load gates only p99, so it has no gate",
                slo.name, slo.objective
            ));
            continue;
        }
        match &slo.routes {
            None => args.extend(["--max-p99".to_owned(), threshold.to_string()]),
            Some(routes) => {
                for r in routes {
                    args.extend(["--max-p99".to_owned(), format!("{r}={threshold}")]);
                }
            }
        }
    }
    (args, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::gates::P99Gate;

    #[test]
    fn the_committed_slos_as_load_gates() {
        let spec = Spec::parse("spec/slo.toml", include_str!("../../spec/slo.toml")).unwrap();
        let (args, notes) = gates(&spec);
        assert_eq!(
            args,
            [
                "--max-error-ratio",
                "0.001",
                "--max-p99",
                "/api/items=250ms",
                "--max-p99",
                "/api/items/{id}=250ms"
            ]
        );
        assert!(notes.is_empty());
        for gate in args.chunks(2).filter(|c| c[0] == "--max-p99") {
            gate[1]
                .parse::<P99Gate>()
                .expect("srelab load accepts the gate");
        }
    }
}
