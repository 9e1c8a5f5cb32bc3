//! Which routes a layer leaves alone.

use std::sync::Arc;

/// Route templates a layer does not record, with one syntax everywhere: an
/// exact template (`/metrics`) or a prefix ending in `*` (`/internal/*`).
/// Matched against the route *template*, so `/users/*` excludes
/// `/users/{id}` whatever the ID. Cheap to clone.
///
/// ```
/// use pf_http_core::RouteFilter;
///
/// let filter = RouteFilter::new(["/metrics", "/internal/*"]);
/// assert!(filter.matches("/metrics"));
/// assert!(!filter.matches("/metrics/extra"));
/// assert!(filter.matches("/internal/"));
/// assert!(filter.matches("/internal/jobs/{id}"));
/// assert!(!filter.is_empty());
/// assert!(!RouteFilter::default().matches("/metrics"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct RouteFilter {
    patterns: Arc<[Pattern]>,
}

#[derive(Debug)]
enum Pattern {
    Exact(Box<str>),
    Prefix(Box<str>),
}

impl RouteFilter {
    /// A filter of these patterns.
    pub fn new<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            patterns: patterns
                .into_iter()
                .map(|p| {
                    let p: String = p.into();
                    match p.strip_suffix('*') {
                        Some(prefix) => Pattern::Prefix(prefix.into()),
                        None => Pattern::Exact(p.into()),
                    }
                })
                .collect(),
        }
    }

    /// This filter and one more pattern.
    #[must_use]
    pub fn with(self, pattern: impl Into<String>) -> Self {
        let mut all: Vec<String> = self
            .patterns
            .iter()
            .map(|p| match p {
                Pattern::Exact(e) => e.to_string(),
                Pattern::Prefix(p) => format!("{p}*"),
            })
            .collect();
        all.push(pattern.into());
        Self::new(all)
    }

    /// Whether no pattern is set (the layers skip the check then).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `template` is excluded.
    pub fn matches(&self, template: &str) -> bool {
        self.patterns.iter().any(|p| match p {
            Pattern::Exact(e) => **e == *template,
            Pattern::Prefix(prefix) => template.starts_with(&**prefix),
        })
    }
}
