//! Series storage: the route table, the HTTP and gRPC series of a registry
//! and their lookups on the request path (one hash probe of a packed key).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use pf_http_core::internal::METHOD_LABELS;

use crate::config::{Naming, OVERFLOW_ROUTE, Timing};
use crate::encoding::collector::Collector;
use crate::instruments::operation::{OperationConfig, Scopes};
use crate::middleware::grpc::CODE_NAMES;
use crate::storage::exemplar::Exemplars;
use crate::storage::intern::{RouteEntry, Routes};
use crate::storage::names::{LabelNames, Names};
use crate::storage::series::{Cells, HistogramLayout};
use crate::storage::table::{Lookup, SeriesTable};

/// Word offsets inside one shard of each series kind.
pub(crate) struct Layouts {
    /// Flight series: `[in_flight, request_size histogram]`.
    pub(crate) request_size: HistogramLayout,
    pub(crate) flight_words: usize,
    /// Response series: `[duration histogram, response_size histogram]`. Every
    /// request is observed exactly once in the duration histogram, so its
    /// count is the request counter: one atomic add fewer per request.
    pub(crate) duration: HistogramLayout,
    pub(crate) response_size: HistogramLayout,
    pub(crate) response_words: usize,
}

pub(crate) const IN_FLIGHT_WORD: usize = 0;

impl Layouts {
    pub(crate) fn new(duration_buckets: usize, size_buckets: usize) -> Self {
        let size_words = HistogramLayout::words(size_buckets);
        let duration_words = HistogramLayout::words(duration_buckets);
        Self {
            request_size: HistogramLayout {
                offset: 1,
                buckets: size_buckets,
            },
            flight_words: 1 + size_words,
            duration: HistogramLayout {
                offset: 0,
                buckets: duration_buckets,
            },
            response_size: HistogramLayout {
                offset: duration_words,
                buckets: size_buckets,
            },
            response_words: duration_words + size_words,
        }
    }
}

/// In-flight gauge and request-size histogram of one `(method, route)`.
pub(crate) struct FlightSeries {
    pub(crate) labels: Box<str>,
    pub(crate) cells: Cells,
    /// The label values unrendered, for exporters other than the text exposition.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) attributes: SeriesAttributes,
}

impl FlightSeries {
    pub(crate) fn new(
        labels: String,
        layout: &Layouts,
        shards: usize,
        attributes: SeriesAttributes,
    ) -> Self {
        Self {
            labels: labels.into_boxed_str(),
            cells: Cells::new(layout.flight_words, shards),
            attributes,
        }
    }
}

/// A series' method, route and status as values (the status is 0 for in-flight series, and
/// for the overflow series).
#[derive(Default)]
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
pub(crate) struct SeriesAttributes {
    pub(crate) method: u8,
    pub(crate) route: Box<str>,
    pub(crate) status: u16,
}

/// Request counter, duration and response-size histograms of one `(method, route, status)`.
pub(crate) struct ResponseSeries {
    pub(crate) labels: Box<str>,
    pub(crate) cells: Cells,
    /// Latest trace ID per duration bucket (zero-sized without the `exemplars` feature).
    #[cfg_attr(not(feature = "exemplars"), allow(dead_code))]
    pub(crate) exemplars: Exemplars,
    /// The label values unrendered, for exporters other than the text exposition.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) attributes: SeriesAttributes,
}

impl ResponseSeries {
    pub(crate) fn new(labels: String, layout: &Layouts, shards: usize) -> Self {
        Self {
            labels: labels.into_boxed_str(),
            cells: Cells::new(layout.response_words, shards),
            exemplars: Default::default(),
            attributes: SeriesAttributes::default(),
        }
    }

    pub(crate) fn with_attributes(mut self, attributes: SeriesAttributes) -> Self {
        self.attributes = attributes;
        self
    }
}

/// Everything a registry records into: the route table, the HTTP and gRPC
/// series tables with their overflow series, the repository and cache scopes,
/// the registered collectors, and what the exposition needs to write them.
pub(crate) struct Store {
    /// When the registry was built: the start of every cumulative count (OTLP start time).
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    pub(crate) created: std::time::SystemTime,
    /// Repository and cache instruments.
    pub(crate) operations: Arc<OperationConfig>,
    pub(crate) scopes: Scopes,
    pub(crate) clock: quanta::Clock,
    pub(crate) routes: Routes,
    pub(crate) flights: SeriesTable<FlightSeries>,
    pub(crate) responses: SeriesTable<ResponseSeries>,
    pub(crate) overflow_flight: FlightSeries,
    pub(crate) overflow_response: ResponseSeries,
    pub(crate) dropped: AtomicU64,
    pub(crate) collectors: RwLock<Vec<Arc<dyn Collector>>>,
    pub(crate) duration_bounds: Box<[u64]>,
    pub(crate) size_bounds: Box<[u64]>,
    /// Pre-rendered `le="..."` values.
    pub(crate) duration_le: Box<[Box<str>]>,
    pub(crate) size_le: Box<[Box<str>]>,
    pub(crate) layout: Layouts,
    pub(crate) names: Names,
    pub(crate) labels: LabelNames,
    /// `a="b",` for each constant label (trailing comma), ready to prefix series labels.
    pub(crate) rendered_const: String,
    /// The same without the trailing comma, for collectors.
    pub(crate) const_labels: String,
    pub(crate) shards: usize,
    pub(crate) group_status: bool,
    pub(crate) timing: Timing,
    pub(crate) naming: Naming,
    /// Whether requests read their trace for exemplars (zero-sized without
    /// the `exemplars` feature).
    pub(crate) exemplars: crate::storage::exemplar::Switch,
    /// gRPC series, created on the first gRPC call.
    pub(crate) grpc: OnceLock<GrpcSeries>,
}

#[inline]
fn flight_key(route: u32, method: u8) -> u64 {
    (u64::from(route) << 32) | (u64::from(method) << 16)
}

/// Pseudo status for a request whose future was dropped before a response
/// existed: nginx's "client closed request".
pub(crate) const STATUS_CLIENT_CLOSED: u16 = 499;

impl Store {
    /// Interns a route template; `None` means the request matched no route.
    #[inline]
    pub(crate) fn route(&self, template: Option<&str>) -> &RouteEntry {
        self.routes.get(template, &self.dropped)
    }

    #[inline]
    pub(crate) fn flight(&self, route: &RouteEntry, method: u8) -> &FlightSeries {
        let found = self
            .flights
            .get_or_insert(flight_key(route.id, method), || {
                FlightSeries::new(
                    render_flight_labels(
                        &self.rendered_const,
                        &self.labels,
                        METHOD_LABELS[method as usize],
                        &route.label,
                    ),
                    &self.layout,
                    self.shards,
                    SeriesAttributes {
                        method,
                        route: route.name.clone(),
                        status: 0,
                    },
                )
            });
        match found {
            Lookup::Found(s) => s,
            Lookup::Full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                &self.overflow_flight
            }
        }
    }

    /// The response series for a route, method and HTTP status code.
    #[inline]
    pub(crate) fn response(&self, route: &RouteEntry, method: u8, status: u16) -> &ResponseSeries {
        let status = if self.group_status {
            status / 100 * 100
        } else {
            status
        };
        let key = flight_key(route.id, method) | u64::from(status);
        let found = self.responses.get_or_insert(key, || {
            ResponseSeries::new(
                self.render_response_labels(route, method, status),
                &self.layout,
                self.shards,
            )
            .with_attributes(SeriesAttributes {
                method,
                route: route.name.clone(),
                status,
            })
        });
        match found {
            Lookup::Found(s) => s,
            Lookup::Full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                &self.overflow_response
            }
        }
    }

    fn render_response_labels(&self, route: &RouteEntry, method: u8, status: u16) -> String {
        let status_text = if self.group_status {
            format!("{}xx", status / 100)
        } else {
            status.to_string()
        };
        let mut s = render_flight_labels(
            &self.rendered_const,
            &self.labels,
            METHOD_LABELS[method as usize],
            &route.label,
        );
        s.push_str(&format!(",{}=\"{status_text}\"", self.labels.status));
        if let Some(error_type) = self.labels.error_type
            && status >= 500
        {
            s.push_str(&format!(",{error_type}=\"{status_text}\""));
        }
        s
    }

    /// HTTP requests and repository / cache calls recorded into overflow series.
    pub(crate) fn dropped_total(&self) -> u64 {
        self.dropped
            .load(Ordering::Relaxed)
            .wrapping_add(self.scopes.dropped())
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    #[inline]
    pub(crate) fn elapsed_nanos(&self, start: u64) -> u64 {
        self.clock.delta_as_nanos(start, self.clock.raw())
    }
}

pub(crate) fn render_flight_labels(
    rendered_const: &str,
    labels: &LabelNames,
    method: &str,
    route_label: &str,
) -> String {
    format!(
        "{rendered_const}{}=\"{method}\",{}=\"{route_label}\"",
        labels.method, labels.route
    )
}

/// gRPC series, created on the first gRPC call: registries serving only
/// HTTP never allocate them.
pub(crate) struct GrpcSeries {
    pub(crate) table: SeriesTable<ResponseSeries>,
    pub(crate) overflow: ResponseSeries,
}

impl Store {
    fn grpc_series(&self) -> &GrpcSeries {
        self.grpc.get_or_init(|| {
            let overflow = ResponseSeries::new(
                self.render_grpc_labels(OVERFLOW_ROUTE, "_OTHER", "_OTHER"),
                &self.layout,
                self.shards,
            );
            GrpcSeries {
                table: SeriesTable::with_capacity(self.responses.capacity()),
                overflow,
            }
        })
    }

    /// The series of a gRPC call on `route` that ended with `code`.
    #[inline]
    pub(crate) fn grpc_response(&self, route: &RouteEntry, code: u8) -> &ResponseSeries {
        let grpc = self.grpc_series();
        let key = (u64::from(route.id) << 32) | u64::from(code);
        let found = grpc.table.get_or_insert(key, || {
            let (service, method) = split_route(&route.label);
            let code_label = match self.naming {
                Naming::OpenTelemetry => itoa::Buffer::new().format(code).to_owned(),
                _ => CODE_NAMES[usize::from(code)].to_owned(),
            };
            ResponseSeries::new(
                self.render_grpc_labels(service, method, &code_label),
                &self.layout,
                self.shards,
            )
        });
        match found {
            Lookup::Found(s) => s,
            Lookup::Full => {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                &grpc.overflow
            }
        }
    }

    fn render_grpc_labels(&self, service: &str, method: &str, code: &str) -> String {
        match self.naming {
            Naming::OpenTelemetry => format!(
                "{}rpc_system=\"grpc\",rpc_service=\"{service}\",rpc_method=\"{method}\",rpc_grpc_status_code=\"{code}\"",
                self.rendered_const
            ),
            _ => format!(
                "{}grpc_service=\"{service}\",grpc_method=\"{method}\",grpc_code=\"{code}\"",
                self.rendered_const
            ),
        }
    }
}

/// `/pkg.Service/Method` → (`pkg.Service`, `Method`); other routes
/// (`__unmatched__`, `__overflow__`) → (route, `_OTHER`).
pub(crate) fn split_route(label: &str) -> (&str, &str) {
    label
        .strip_prefix('/')
        .and_then(|r| r.split_once('/'))
        .unwrap_or((label, "_OTHER"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_routes_split_into_service_and_method() {
        assert_eq!(split_route("/a.B/C"), ("a.B", "C"));
        assert_eq!(split_route("__unmatched__"), ("__unmatched__", "_OTHER"));
    }
}
