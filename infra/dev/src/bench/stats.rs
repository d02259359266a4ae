//! Distributions of measured times.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Summary of a sample, in milliseconds. Percentiles are nearest-rank.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dist {
    pub count: usize,
    pub mean: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Dist {
    pub fn of_durations(samples: &[Duration]) -> Dist {
        let ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Dist::of(&ms)
    }

    pub fn of(samples: &[f64]) -> Dist {
        if samples.is_empty() {
            return Dist::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Dist {
            count: sorted.len(),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min: sorted[0],
            p50: percentile(&sorted, 50.0),
            p90: percentile(&sorted, 90.0),
            p99: percentile(&sorted, 99.0),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// Nearest-rank percentile of an ascending, non-empty sample.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Points of the empirical distribution function, for plots: (value, fraction at or below).
pub fn cdf(samples: &[f64], points: usize) -> Vec<(f64, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return Vec::new();
    }
    let step = (n / points.max(1)).max(1);
    let mut out: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (sorted[i], (i + 1) as f64 / n as f64))
        .collect();
    out.push((sorted[n - 1], 1.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let d = Dist::of(&samples);
        assert_eq!(
            (d.p50, d.p90, d.p99, d.min, d.max),
            (50.0, 90.0, 99.0, 1.0, 100.0)
        );
        assert_eq!(d.mean, 50.5);
        assert_eq!(Dist::of(&[7.0]).p99, 7.0);
        assert_eq!(Dist::of(&[]).count, 0);
    }
}
