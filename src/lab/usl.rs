//! Gunther's Universal Scalability Law, fitted to a scaling curve:
//! `C(N) = C(1)·N / (1 + σ(N−1) + κN(N−1))`, where σ is the share of the
//! work serialised (contention: a single writer, a shared lock) and κ the
//! cost of keeping N parts coherent (crosstalk growing with every pair).
//! With σ = κ = 0 the scaling is linear; κ > 0 makes a peak at
//! N* = √((1−σ)/κ), past which one more instance lowers the capacity.
//!
//! The fit is the usual linearisation: with X = C(N)/C(1),
//! `N/X − 1 = σ(N−1) + κN(N−1)`, least squares through the origin over the
//! points with N > 1, both coefficients kept at zero or above.

use serde::{Deserialize, Serialize};

/// A fitted law.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Usl {
    /// Contention (0 ≤ σ).
    pub sigma: f64,
    /// Coherency (0 ≤ κ).
    pub kappa: f64,
    /// The capacity of one instance the law scales from.
    pub one: f64,
}

impl Usl {
    /// Fits `points` (instances, capacity); `None` without three points,
    /// without N = 1, or when a capacity is not positive.
    pub fn fit(points: &[(u32, f64)]) -> Option<Usl> {
        if points.len() < 3 || points.iter().any(|(_, c)| c.is_nan() || *c <= 0.0) {
            return None;
        }
        let one = points.iter().find(|(n, _)| *n == 1)?.1;
        let rows: Vec<(f64, f64, f64)> = points
            .iter()
            .filter(|(n, _)| *n > 1)
            .map(|&(n, c)| {
                let n = f64::from(n);
                (n - 1.0, n * (n - 1.0), n / (c / one) - 1.0)
            })
            .collect();
        let sum = |f: &dyn Fn(&(f64, f64, f64)) -> f64| rows.iter().map(f).sum::<f64>();
        let (aa, ab, bb) = (
            sum(&|r| r.0 * r.0),
            sum(&|r| r.0 * r.1),
            sum(&|r| r.1 * r.1),
        );
        let (ay, by) = (sum(&|r| r.0 * r.2), sum(&|r| r.1 * r.2));
        let det = aa * bb - ab * ab;
        let (mut sigma, mut kappa) = if det.abs() > 1e-12 {
            ((ay * bb - by * ab) / det, (aa * by - ab * ay) / det)
        } else {
            (ay / aa, 0.0)
        };
        if kappa < 0.0 {
            (sigma, kappa) = (ay / aa, 0.0);
        }
        if sigma < 0.0 {
            (sigma, kappa) = (0.0, (by / bb).max(0.0));
        }
        Some(Usl {
            sigma: sigma.max(0.0),
            kappa,
            one,
        })
    }

    /// The capacity the law gives for `n` instances.
    pub fn capacity(&self, n: f64) -> f64 {
        self.one * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }

    /// The instance count of the highest capacity, when κ > 0.
    pub fn peak(&self) -> Option<f64> {
        (self.kappa > 0.0).then(|| ((1.0 - self.sigma).max(0.0) / self.kappa).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(law: Usl, up_to: u32) -> Vec<(u32, f64)> {
        (1..=up_to)
            .map(|n| (n, law.capacity(f64::from(n))))
            .collect()
    }

    #[test]
    fn recovers_the_law_of_an_exact_curve() {
        let law = Usl {
            sigma: 0.08,
            kappa: 0.002,
            one: 450.0,
        };
        let fit = Usl::fit(&curve(law, 6)).unwrap();
        assert!((fit.sigma - 0.08).abs() < 1e-9, "{fit:?}");
        assert!((fit.kappa - 0.002).abs() < 1e-9, "{fit:?}");
        assert!((fit.peak().unwrap() - (0.92f64 / 0.002).sqrt()).abs() < 1e-6);
    }

    #[test]
    fn linear_scaling_has_neither_contention_nor_coherency() {
        let fit = Usl::fit(&[(1, 100.0), (2, 200.0), (3, 300.0)]).unwrap();
        assert!(fit.sigma.abs() < 1e-9 && fit.kappa.abs() < 1e-9, "{fit:?}");
        assert_eq!(fit.peak(), None);
    }

    #[test]
    fn a_flat_curve_is_all_contention_and_never_negative() {
        // One writer: more instances add nothing.
        let fit = Usl::fit(&[(1, 100.0), (2, 100.0), (3, 100.0)]).unwrap();
        assert!((fit.sigma - 1.0).abs() < 1e-9, "{fit:?}");
        assert!(fit.kappa.abs() < 1e-9);
        // Better than linear (noise) clamps at zero rather than going negative.
        let fit = Usl::fit(&[(1, 100.0), (2, 210.0), (3, 330.0)]).unwrap();
        assert!(fit.sigma >= 0.0 && fit.kappa >= 0.0, "{fit:?}");
    }

    #[test]
    fn needs_three_points_with_one_instance() {
        assert_eq!(Usl::fit(&[(1, 100.0), (2, 150.0)]), None);
        assert_eq!(Usl::fit(&[(2, 100.0), (3, 150.0), (4, 160.0)]), None);
        assert_eq!(Usl::fit(&[(1, 100.0), (2, 0.0), (3, 150.0)]), None);
    }
}
