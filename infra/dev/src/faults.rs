//! Fault injection for the functions' AWS calls: the emulator's functions port answers
//! a share of requests with throttling errors, server errors, "lost" answers (executed,
//! then answered with a server error) and transaction conflicts, in the shapes the real
//! services send (see `infra/emulator/moto_launcher.py`). The local cloud's own port
//! never injects faults.
//!
//! ```text
//! throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15
//! ```
//!
//! [`set_faults`] changes the spec of a running emulator, [`fault_report`] reads what it has
//! injected so far (and the transaction conflicts it modelled on its own, on either port).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How often each fault happens, as rates from 0 to 1. `throttle`, `error5xx` and `lost`
/// share one draw per request, so they add up to at most 1; `conflict` is drawn on its own,
/// for each `TransactWriteItems`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultSpec {
    /// Answered with the service's throttling error (retried by the SDKs).
    pub throttle: f64,
    /// Answered with a server error, not executed (retried by the SDKs).
    pub error5xx: f64,
    /// Executed, then answered with a server error: the caller cannot tell it happened.
    pub lost: f64,
    /// A `TransactWriteItems` cancelled with a `TransactionConflict` reason, not executed.
    pub conflict: f64,
}

/// The kinds of fault, in the order of [`FaultSpec`]'s fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FaultKind {
    Throttle,
    Error5xx,
    Lost,
    Conflict,
}

impl FaultKind {
    pub const ALL: [FaultKind; 4] = [
        FaultKind::Throttle,
        FaultKind::Error5xx,
        FaultKind::Lost,
        FaultKind::Conflict,
    ];

    /// The name in specs and reports: `throttle`, `error5xx`, `lost`, `conflict`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Throttle => "throttle",
            FaultKind::Error5xx => "error5xx",
            FaultKind::Lost => "lost",
            FaultKind::Conflict => "conflict",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FaultKind {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FaultKind::ALL
            .into_iter()
            .find(|kind| kind.name() == s)
            .ok_or_else(|| {
                FaultSpecError(format!(
                    "unknown fault kind `{s}` (expected throttle, error5xx, lost or conflict)"
                ))
            })
    }
}

/// Why a fault spec was refused; the message names the bad part.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FaultSpecError(String);

impl FaultSpec {
    /// No faults.
    pub fn none() -> FaultSpec {
        FaultSpec::default()
    }

    /// Whether no fault can happen.
    pub fn is_none(&self) -> bool {
        FaultKind::ALL.iter().all(|&kind| self.rate(kind) == 0.0)
    }

    pub fn rate(&self, kind: FaultKind) -> f64 {
        match kind {
            FaultKind::Throttle => self.throttle,
            FaultKind::Error5xx => self.error5xx,
            FaultKind::Lost => self.lost,
            FaultKind::Conflict => self.conflict,
        }
    }

    fn rate_mut(&mut self, kind: FaultKind) -> &mut f64 {
        match kind {
            FaultKind::Throttle => &mut self.throttle,
            FaultKind::Error5xx => &mut self.error5xx,
            FaultKind::Lost => &mut self.lost,
            FaultKind::Conflict => &mut self.conflict,
        }
    }

    /// Every rate within 0..=1 and `throttle + error5xx + lost` at most 1.
    pub fn validate(&self) -> Result<(), FaultSpecError> {
        for kind in FaultKind::ALL {
            let rate = self.rate(kind);
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultSpecError(format!(
                    "{kind}={rate}: a rate must be between 0 and 1"
                )));
            }
        }
        let shared = self.throttle + self.error5xx + self.lost;
        // A little slack for decimal fractions: 0.1 + 0.2 + 0.7 is 1.0000000000000002.
        if shared > 1.0 + 1e-9 {
            return Err(FaultSpecError(format!(
                "throttle + error5xx + lost = {shared} is over 1 (they share one draw per request)"
            )));
        }
        Ok(())
    }
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    /// `throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15`; kinds left out are 0; an
    /// empty string or `none` is no faults.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let mut spec = FaultSpec::none();
        if s.is_empty() || s.eq_ignore_ascii_case("none") {
            return Ok(spec);
        }
        let mut seen = Vec::new();
        for part in s.split(',').map(str::trim) {
            let Some((kind, rate)) = part.split_once('=') else {
                return Err(FaultSpecError(if part.is_empty() {
                    format!("empty fault in `{s}`")
                } else {
                    format!("`{part}` needs a rate, as in throttle=0.05")
                }));
            };
            let kind: FaultKind = kind.trim().parse()?;
            if seen.contains(&kind) {
                return Err(FaultSpecError(format!("{kind} is given twice")));
            }
            seen.push(kind);
            let rate = rate.trim();
            let value: f64 = rate
                .parse()
                .map_err(|_| FaultSpecError(format!("`{part}`: `{rate}` is not a number")))?;
            *spec.rate_mut(kind) = value;
        }
        spec.validate()?;
        Ok(spec)
    }
}

impl fmt::Display for FaultSpec {
    /// The parseable form, with only the kinds that can happen; `none` for no faults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let parts: Vec<String> = FaultKind::ALL
            .into_iter()
            .filter(|&kind| self.rate(kind) != 0.0)
            .map(|kind| format!("{kind}={}", self.rate(kind)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// How many faults of one kind were injected into one operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedFaults {
    pub kind: FaultKind,
    /// `dynamodb`, `sqs`, `sns`, ... (the service in the request's signature).
    pub service: String,
    /// `TransactWriteItems`, `SendMessage`, ...
    pub operation: String,
    pub count: u64,
}

/// `GET /_dev/faults`: the spec in force and everything injected since the emulator started
/// (counts only grow: [`FaultReport::since`] gives what happened between two reports).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultReport {
    pub spec: FaultSpec,
    pub injected: Vec<InjectedFaults>,
    /// Transaction conflicts the emulator modelled by itself (two requests on one item at
    /// once), on either port: not injected, but what DynamoDB would have done.
    pub modelled_conflicts: u64,
}

impl FaultReport {
    /// Injected faults by kind, every kind present (0 if none).
    pub fn totals(&self) -> BTreeMap<FaultKind, u64> {
        let mut totals: BTreeMap<FaultKind, u64> =
            FaultKind::ALL.into_iter().map(|kind| (kind, 0)).collect();
        for row in &self.injected {
            *totals.entry(row.kind).or_default() += row.count;
        }
        totals
    }

    /// Faults of `kind` injected into `service`'s `operation`.
    pub fn count(&self, kind: FaultKind, service: &str, operation: &str) -> u64 {
        self.injected
            .iter()
            .filter(|row| row.kind == kind && row.service == service && row.operation == operation)
            .map(|row| row.count)
            .sum()
    }

    /// What happened after `earlier` (a report of the same emulator), with this spec.
    pub fn since(&self, earlier: &FaultReport) -> FaultReport {
        let injected = self
            .injected
            .iter()
            .filter_map(|row| {
                let before = earlier.count(row.kind, &row.service, &row.operation);
                let count = row.count.saturating_sub(before);
                (count > 0).then(|| InjectedFaults {
                    count,
                    ..row.clone()
                })
            })
            .collect();
        FaultReport {
            spec: self.spec,
            injected,
            modelled_conflicts: self
                .modelled_conflicts
                .saturating_sub(earlier.modelled_conflicts),
        }
    }
}

impl fmt::Display for FaultReport {
    /// A short table: each kind, its count and its three most hit operations.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "faults: {}", self.spec)?;
        writeln!(f, "{:<10} {:>7}  top operations", "kind", "count")?;
        for (kind, total) in self.totals() {
            let mut rows: Vec<&InjectedFaults> = self
                .injected
                .iter()
                .filter(|row| row.kind == kind)
                .collect();
            rows.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then_with(|| (&a.service, &a.operation).cmp(&(&b.service, &b.operation)))
            });
            let top: Vec<String> = rows
                .iter()
                .take(3)
                .map(|row| format!("{}:{} {}", row.service, row.operation, row.count))
                .collect();
            let top = if top.is_empty() {
                "-".to_owned()
            } else {
                top.join(", ")
            };
            writeln!(f, "{:<10} {:>7}  {top}", kind.name(), total)?;
        }
        write!(
            f,
            "modelled transaction conflicts (not injected): {}",
            self.modelled_conflicts
        )
    }
}

fn faults_url(endpoint: &str) -> String {
    format!("{}/_dev/faults", endpoint.trim_end_matches('/'))
}

async fn read_report(response: reqwest::Response, url: &str) -> anyhow::Result<FaultReport> {
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| anyhow::anyhow!("reading the answer of {url}: {e}"))?;
    if !status.is_success() {
        // The launcher explains a refused spec as {"error": "..."}.
        let reason = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or(body);
        anyhow::bail!("{url} answered {status}: {reason}");
    }
    serde_json::from_str(&body)
        .map_err(|e| anyhow::anyhow!("{url} answered an unexpected report ({e}): {body}"))
}

/// Sets the fault spec of the emulator at `endpoint` (either of its ports) and returns its
/// report. [`FaultSpec::none`] turns faults off.
pub async fn set_faults(endpoint: &str, spec: &FaultSpec) -> anyhow::Result<FaultReport> {
    spec.validate()?;
    let url = faults_url(endpoint);
    let response = reqwest::Client::new()
        .post(&url)
        .json(spec)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the emulator at {url}: {e}"))?;
    read_report(response, &url).await
}

/// The fault report of the emulator at `endpoint` (either of its ports).
pub async fn fault_report(endpoint: &str) -> anyhow::Result<FaultReport> {
    let url = faults_url(endpoint);
    let response = reqwest::get(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the emulator at {url}: {e}"))?;
    read_report(response, &url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<FaultSpec, String> {
        s.parse::<FaultSpec>().map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_spec_parses_and_prints_back() {
        let text = "throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15";
        let spec = parse(text).unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                throttle: 0.05,
                error5xx: 0.05,
                lost: 0.03,
                conflict: 0.15
            }
        );
        assert_eq!(spec.to_string(), text);
        assert_eq!(parse(&spec.to_string()).unwrap(), spec);
    }

    #[test]
    fn kinds_left_out_are_zero_and_order_and_spaces_do_not_matter() {
        let spec = parse(" conflict = 1 , throttle=0.5 ").unwrap();
        assert_eq!(
            spec,
            FaultSpec {
                throttle: 0.5,
                conflict: 1.0,
                ..FaultSpec::none()
            }
        );
        assert_eq!(spec.to_string(), "throttle=0.5,conflict=1");
    }

    #[test]
    fn empty_and_none_mean_no_faults() {
        for text in ["", "  ", "none", "NONE"] {
            let spec = parse(text).unwrap();
            assert!(spec.is_none(), "{text:?}");
            assert_eq!(spec.to_string(), "none");
        }
        assert_eq!(parse("throttle=0").unwrap().to_string(), "none");
    }

    #[test]
    fn an_unknown_kind_is_named() {
        let error = parse("throttle=0.1,throtle=0.2").unwrap_err();
        assert!(error.contains("`throtle`"), "{error}");
        assert!(
            error.contains("throttle, error5xx, lost or conflict"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_number_is_named() {
        let error = parse("lost=0.1,error5xx=lots").unwrap_err();
        assert!(error.contains("`error5xx=lots`") && error.contains("`lots` is not a number"));
        let error = parse("lost").unwrap_err();
        assert!(error.contains("`lost` needs a rate"), "{error}");
        let error = parse("lost=0.1,,throttle=0.1").unwrap_err();
        assert!(error.contains("empty fault"), "{error}");
    }

    #[test]
    fn a_rate_outside_0_to_1_is_named() {
        for (text, named) in [
            ("throttle=1.5", "throttle=1.5"),
            ("conflict=-0.1", "conflict=-0.1"),
            ("lost=NaN", "lost=NaN"),
            ("error5xx=inf", "error5xx=inf"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(
                error.contains(named) && error.contains("between 0 and 1"),
                "{text}: {error}"
            );
        }
        assert!(parse("throttle=1").is_ok());
        assert!(parse("conflict=1,throttle=0.5,lost=0.5").is_ok());
    }

    #[test]
    fn the_shared_draw_may_not_exceed_1() {
        let error = parse("throttle=0.5,error5xx=0.4,lost=0.2").unwrap_err();
        assert!(
            error.contains("throttle + error5xx + lost") && error.contains("over 1"),
            "{error}"
        );
        // Decimal fractions that add up to 1 in arithmetic, not quite in floating point.
        assert!(parse("throttle=0.1,error5xx=0.2,lost=0.7").is_ok());
    }

    #[test]
    fn a_kind_given_twice_is_refused() {
        let error = parse("lost=0.1,lost=0.2").unwrap_err();
        assert_eq!(error, "lost is given twice");
    }

    #[test]
    fn the_spec_is_the_launchers_json() {
        let spec = parse("throttle=0.05,conflict=0.15").unwrap();
        let json = serde_json::to_value(spec).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"throttle": 0.05, "error5xx": 0.0, "lost": 0.0, "conflict": 0.15})
        );
        let back: FaultSpec = serde_json::from_str(r#"{"lost": 0.25}"#).unwrap();
        assert_eq!(
            back,
            FaultSpec {
                lost: 0.25,
                ..FaultSpec::none()
            }
        );
        assert_eq!(
            serde_json::from_str::<FaultSpec>("{}").unwrap(),
            FaultSpec::none()
        );
    }

    fn report() -> FaultReport {
        serde_json::from_value(serde_json::json!({
            "spec": {"throttle": 0.1, "error5xx": 0.0, "lost": 0.0, "conflict": 0.2},
            "injected": [
                {"kind": "conflict", "service": "dynamodb", "operation": "TransactWriteItems", "count": 4},
                {"kind": "throttle", "service": "dynamodb", "operation": "GetItem", "count": 1},
                {"kind": "throttle", "service": "dynamodb", "operation": "TransactWriteItems", "count": 3},
                {"kind": "throttle", "service": "sqs", "operation": "SendMessage", "count": 2}
            ],
            "modelled_conflicts": 7
        }))
        .unwrap()
    }

    #[test]
    fn a_report_totals_by_kind() {
        let report = report();
        let totals = report.totals();
        assert_eq!(totals[&FaultKind::Throttle], 6);
        assert_eq!(totals[&FaultKind::Conflict], 4);
        assert_eq!(totals[&FaultKind::Error5xx], 0);
        assert_eq!(totals[&FaultKind::Lost], 0);
        assert_eq!(report.count(FaultKind::Throttle, "sqs", "SendMessage"), 2);
    }

    #[test]
    fn a_report_since_an_earlier_one_has_the_differences() {
        let earlier = report();
        let mut later = report();
        later.injected[1].count = 5;
        later.modelled_conflicts = 9;
        let since = later.since(&earlier);
        assert_eq!(
            since.injected,
            vec![InjectedFaults {
                kind: FaultKind::Throttle,
                service: "dynamodb".into(),
                operation: "GetItem".into(),
                count: 4
            }]
        );
        assert_eq!(since.modelled_conflicts, 2);
    }

    #[test]
    fn a_report_prints_a_short_table() {
        let text = report().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "faults: throttle=0.1,conflict=0.2");
        assert!(lines[1].starts_with("kind"), "{text}");
        assert_eq!(
            lines[2],
            "throttle         6  dynamodb:TransactWriteItems 3, sqs:SendMessage 2, dynamodb:GetItem 1"
        );
        assert_eq!(lines[3], "error5xx         0  -");
        assert!(lines[5].starts_with("conflict         4  dynamodb:TransactWriteItems 4"));
        assert!(lines[6].ends_with("7"), "{text}");
    }
}
