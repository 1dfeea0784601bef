//! Logging and tracing set-up: log lines to standard error (text or JSON), and, with
//! `--otlp-endpoint`, every span exported to an OpenTelemetry collector over OTLP/HTTP.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::cli::{LogFormat, OtlpProtocol, Tracing};

/// How long an export may take (and how long shutdown waits for the last spans).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// Keeps the span exporter alive; dropping it flushes the spans not yet sent.
pub struct Telemetry {
    /// The OpenTelemetry provider, when spans are exported.
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(e) = provider.shutdown() {
                eprintln!("warning: the last spans could not be exported: {e}");
            }
        }
    }
}

/// The OTLP/HTTP traces URL for `endpoint`: a collector's base URL (`http://host:4318`) gets
/// the standard path `/v1/traces`; a URL with a path is used as it is.
pub fn traces_url(endpoint: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(endpoint)
        .with_context(|| format!("--otlp-endpoint '{endpoint}' is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("--otlp-endpoint must be an http:// or https:// URL");
    }
    if url.path().is_empty() || url.path() == "/" {
        Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
    } else {
        Ok(endpoint.to_owned())
    }
}

/// Installs the global subscriber: log lines filtered by `RUST_LOG` (default `info`) in
/// `format`, and the OpenTelemetry layer when `tracing` names an endpoint.
pub fn init(format: LogFormat, tracing: &Tracing) -> anyhow::Result<Telemetry> {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match format {
        LogFormat::Json => logs.json().boxed(),
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            logs.with_ansi(colour).boxed()
        }
    };
    let (otel, provider) = match &tracing.otlp_endpoint {
        None => (None, None),
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(traces_url(endpoint)?)
                .with_protocol(match tracing.otlp_protocol {
                    OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
                    OtlpProtocol::HttpJson => Protocol::HttpJson,
                })
                .with_timeout(EXPORT_TIMEOUT)
                .build()
                .context("cannot build the OTLP exporter")?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name(tracing.otlp_service_name.clone())
                        .build(),
                )
                .build();
            // The exporter also takes the request spans, which are DEBUG so that log lines at
            // the default level (and a node without an exporter) do not pay for them.
            let otel_filter = tracing_subscriber::EnvFilter::try_new(format!(
                "{directives},{}=debug",
                bgops_server::REQUEST_SPAN_TARGET
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("bgops"))
                .with_filter(otel_filter);
            (Some(layer), Some(provider))
        }
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(otel)
        .try_init()
        .context("cannot install the log subscriber")?;
    Ok(Telemetry { provider })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gets_the_traces_path() {
        assert_eq!(
            traces_url("http://collector:4318").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("http://collector:4318/").unwrap(),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            traces_url("https://x.example/otlp/v1/traces").unwrap(),
            "https://x.example/otlp/v1/traces"
        );
        assert!(traces_url("collector:4318").is_err());
        assert!(traces_url("ftp://collector").is_err());
    }
}
