//! X-Ray subsegments for the functions' AWS calls.
//!
//! Lambda records a segment for each sampled invocation and hands the function its trace
//! header (`_X_AMZN_TRACE_ID`, which lambda_runtime sets before each invocation). Every SDK
//! client of [`crate::aws`] carries [`AwsCallTracing`], an SDK interceptor: when the
//! invocation is sampled, each call (all its attempts) becomes one subsegment of the
//! function's segment, named after the service with the operation, the HTTP status, the
//! request id and the retries, sent as a segment document over UDP to the X-Ray daemon Lambda
//! runs beside the function (`AWS_XRAY_DAEMON_ADDRESS`).
//!
//! Why by hand: what exists is OpenTelemetry (opentelemetry-aws's X-Ray exporter needs
//! opentelemetry_sdk and a tracing bridge, or the ADOT collector layer, a second process to
//! start on every cold start), or unmaintained daemon clients. The SDK's interceptor is its
//! documented extension point, and a segment document is a small, documented JSON object
//! (docs/deploy.md, "Tracing").

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde::Serialize;

/// The trace header of the current invocation, as Lambda passes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    /// `Root`: the trace id, `1-<epoch seconds, hex>-<96 bits, hex>`.
    pub root: String,
    /// `Parent`: the id of the function's segment, the parent of our subsegments.
    pub parent: String,
    pub sampled: bool,
}

impl TraceHeader {
    /// Reads `Root=...;Parent=...;Sampled=1` (other keys, such as `Lineage`, are ignored).
    pub fn parse(header: &str) -> Option<TraceHeader> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for part in header.split(';') {
            match part.trim().split_once('=') {
                Some(("Root", value)) => root = Some(value),
                Some(("Parent", value)) => parent = Some(value),
                Some(("Sampled", value)) => sampled = value == "1",
                _ => {}
            }
        }
        Some(TraceHeader {
            root: root.filter(|r| !r.is_empty())?.to_owned(),
            parent: parent.filter(|p| !p.is_empty())?.to_owned(),
            sampled,
        })
    }
}

/// The header as Lambda writes it (what the local cloud hands its functions).
impl std::fmt::Display for TraceHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sampled = u8::from(self.sampled);
        write!(
            f,
            "Root={};Parent={};Sampled={sampled}",
            self.root, self.parent
        )
    }
}

impl TraceHeader {
    /// The current invocation's header, if it is sampled.
    fn current_sampled() -> Option<TraceHeader> {
        std::env::var("_X_AMZN_TRACE_ID")
            .ok()
            .and_then(|header| TraceHeader::parse(&header))
            .filter(|header| header.sampled)
    }
}

/// One AWS call, as X-Ray's segment document describes it (a subsegment in namespace `aws`).
#[derive(Debug, Serialize)]
pub struct Subsegment {
    pub id: String,
    pub name: String,
    pub trace_id: String,
    pub parent_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub namespace: &'static str,
    pub start_time: f64,
    pub end_time: f64,
    pub aws: AwsCall,
    pub http: Http,
    pub error: bool,
    pub fault: bool,
    pub throttle: bool,
}

#[derive(Debug, Serialize)]
pub struct AwsCall {
    pub operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub retries: u32,
}

#[derive(Debug, Serialize)]
pub struct Http {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<HttpResponse>,
}

#[derive(Debug, Serialize)]
pub struct HttpResponse {
    pub status: u16,
}

impl Subsegment {
    /// The datagram the daemon reads: its header line, then the document.
    pub fn datagram(&self) -> Vec<u8> {
        let mut datagram = b"{\"format\": \"json\", \"version\": 1}\n".to_vec();
        // A struct of strings and numbers: serialization cannot fail.
        serde_json::to_writer(&mut datagram, self).expect("a subsegment serializes");
        datagram
    }
}

/// The SDK interceptor every client of [`crate::aws`] carries. Unsampled invocations (and
/// processes outside Lambda) cost one environment read per call and send nothing.
#[derive(Debug, Default)]
pub struct AwsCallTracing;

/// What the start of a sampled call leaves for its end.
#[derive(Clone, Debug)]
struct Started {
    header: TraceHeader,
    at: f64,
}

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for AwsCallTracing {
    fn name(&self) -> &'static str {
        "AwsCallTracing"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(header) = TraceHeader::current_sampled() {
            cfg.interceptor_state().store_put(Started {
                header,
                at: seconds_now(),
            });
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(started) = cfg.load::<Started>().cloned() else {
            return Ok(());
        };
        let Some(daemon) = Daemon::get() else {
            return Ok(());
        };
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("AWS", "unknown"), |m| (m.service(), m.name()));
        let response = context.response();
        let status = response.map(|r| r.status().as_u16());
        let header = |name: &str| {
            response
                .and_then(|r| r.headers().get(name))
                .map(str::to_owned)
        };
        let failed = context.output_or_error().is_some_and(|o| o.is_err());
        let error_type = header("x-amzn-errortype").unwrap_or_default();
        let subsegment = Subsegment {
            id: format!("{:016x}", fastrand::u64(..)),
            name: service_name(service),
            trace_id: started.header.root,
            parent_id: started.header.parent,
            kind: "subsegment",
            namespace: "aws",
            start_time: started.at,
            end_time: seconds_now(),
            aws: AwsCall {
                operation: operation.to_owned(),
                region: daemon.region.clone(),
                request_id: header("x-amzn-requestid").or_else(|| header("x-amz-request-id")),
                retries: cfg
                    .load::<RequestAttempts>()
                    .map_or(0, |a| a.attempts().saturating_sub(1)),
            },
            http: Http {
                response: status.map(|status| HttpResponse { status }),
            },
            // X-Ray's meaning: error a 4xx, fault a 5xx or no answer, throttle a 429 or a
            // throttling error (DynamoDB answers those with 400).
            error: failed && status.is_some_and(|s| (400..500).contains(&s)),
            fault: failed && status.is_none_or(|s| s >= 500),
            throttle: status == Some(429)
                || [
                    "Throttl",
                    "ProvisionedThroughputExceeded",
                    "RequestLimitExceeded",
                ]
                .iter()
                .any(|t| error_type.contains(t)),
        };
        daemon.send(&subsegment.datagram());
        Ok(())
    }
}

/// X-Ray's names for the services we call (the SDK's are lower case).
fn service_name(sdk: &str) -> String {
    match sdk.to_ascii_lowercase().as_str() {
        "dynamodb" => "DynamoDB",
        "sns" => "SNS",
        "sqs" => "SQS",
        "secretsmanager" | "secrets manager" => "SecretsManager",
        _ => sdk,
    }
    .to_owned()
}

fn seconds_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// The X-Ray daemon's UDP address, a socket to it and the region, made at the first sampled
/// call.
struct Daemon {
    socket: UdpSocket,
    address: SocketAddr,
    /// The function's region, the same for every call: read once.
    region: Option<String>,
}

impl Daemon {
    fn get() -> Option<&'static Daemon> {
        static DAEMON: OnceLock<Option<Daemon>> = OnceLock::new();
        DAEMON
            .get_or_init(|| {
                let address = daemon_address(&std::env::var("AWS_XRAY_DAEMON_ADDRESS").ok()?)?;
                let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
                let region = std::env::var("AWS_REGION").ok();
                Some(Daemon {
                    socket,
                    address,
                    region,
                })
            })
            .as_ref()
    }

    /// Best effort, as X-Ray's own SDKs: a lost subsegment must not fail the call it describes.
    fn send(&self, datagram: &[u8]) {
        let _ = self.socket.send_to(datagram, self.address);
    }
}

/// `host:port`, or the daemon's two-address form `tcp:host:port udp:host:port`.
fn daemon_address(value: &str) -> Option<SocketAddr> {
    let udp = value
        .split_whitespace()
        .find_map(|part| part.strip_prefix("udp:"))
        .unwrap_or(value);
    udp.to_socket_addrs().ok()?.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_lambdas_trace_header() {
        let header = TraceHeader::parse(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:0",
        )
        .unwrap();
        assert_eq!(header.root, "1-5759e988-bd862e3fe1be46a994272793");
        assert_eq!(header.parent, "53995c3f42cd8ad8");
        assert!(header.sampled);
        let unsampled = TraceHeader::parse("Root=1-a-b;Parent=c;Sampled=0").unwrap();
        assert!(!unsampled.sampled);
        assert_eq!(unsampled.to_string(), "Root=1-a-b;Parent=c;Sampled=0");
        // Without a parent there is nothing to hang a subsegment on.
        assert_eq!(TraceHeader::parse("Root=1-a-b;Sampled=1"), None);
        assert_eq!(TraceHeader::parse(""), None);
    }

    #[test]
    fn the_daemon_address_takes_both_forms() {
        let plain = daemon_address("169.254.79.129:2000").unwrap();
        assert_eq!(plain.to_string(), "169.254.79.129:2000");
        let both = daemon_address("tcp:127.0.0.1:2000 udp:127.0.0.2:2001").unwrap();
        assert_eq!(both.to_string(), "127.0.0.2:2001");
        assert_eq!(daemon_address("nonsense"), None);
    }

    #[test]
    fn a_datagram_is_the_daemon_header_then_the_document() {
        let subsegment = Subsegment {
            id: "0123456789abcdef".to_owned(),
            name: service_name("dynamodb"),
            trace_id: "1-5759e988-bd862e3fe1be46a994272793".to_owned(),
            parent_id: "53995c3f42cd8ad8".to_owned(),
            kind: "subsegment",
            namespace: "aws",
            start_time: 1.5,
            end_time: 2.25,
            aws: AwsCall {
                operation: "GetItem".to_owned(),
                region: None,
                request_id: Some("R1".to_owned()),
                retries: 1,
            },
            http: Http {
                response: Some(HttpResponse { status: 200 }),
            },
            error: false,
            fault: false,
            throttle: false,
        };
        let datagram = String::from_utf8(subsegment.datagram()).unwrap();
        let (header, document) = datagram.split_once('\n').unwrap();
        assert_eq!(header, r#"{"format": "json", "version": 1}"#);
        let document: serde_json::Value = serde_json::from_str(document).unwrap();
        assert_eq!(document["name"], "DynamoDB");
        assert_eq!(document["type"], "subsegment");
        assert_eq!(document["parent_id"], "53995c3f42cd8ad8");
        assert_eq!(document["aws"]["operation"], "GetItem");
        assert_eq!(document["aws"]["retries"], 1);
        assert_eq!(document["http"]["response"]["status"], 200);
        assert!(document["aws"].get("region").is_none());
    }
}
