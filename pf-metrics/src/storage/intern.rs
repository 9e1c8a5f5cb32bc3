//! Route interning: each distinct route template gets one [`RouteEntry`]
//! (an ID for series keys, its escaped label, whether it is excluded), once.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use pf_http_core::{RouteFilter, UNMATCHED_ROUTE};

use crate::config::OVERFLOW_ROUTE;
use crate::encoding::text::escape_label_value;
use crate::storage::table::{Lookup, SeriesTable};

/// One interned route template.
pub(crate) struct RouteEntry {
    pub(crate) id: u32,
    pub(crate) name: Box<str>,
    /// The escaped label value.
    pub(crate) label: Box<str>,
    pub(crate) excluded: bool,
}

impl RouteEntry {
    fn new(id: u32, name: &str, excluded: bool) -> Self {
        let mut label = String::with_capacity(name.len());
        escape_label_value(name, &mut label);
        Self {
            id,
            name: name.into(),
            label: label.into_boxed_str(),
            excluded,
        }
    }
}

/// The route templates of a registry, bounded: past `max_routes` templates
/// every new one is `__overflow__`.
pub(crate) struct Routes {
    table: SeriesTable<RouteEntry>,
    next_id: AtomicU32,
    unmatched: RouteEntry,
    overflow: RouteEntry,
    exclude: RouteFilter,
}

impl Routes {
    pub(crate) fn new(max_routes: usize, exclude: RouteFilter) -> Self {
        Self {
            table: SeriesTable::with_capacity(max_routes),
            next_id: AtomicU32::new(2),
            unmatched: RouteEntry::new(0, UNMATCHED_ROUTE, false),
            overflow: RouteEntry::new(1, OVERFLOW_ROUTE, false),
            exclude,
        }
    }

    /// Interns a route template; `None` means the request matched no route.
    /// A template past the cap counts one in `dropped`.
    #[inline]
    pub(crate) fn get(&self, template: Option<&str>, dropped: &AtomicU64) -> &RouteEntry {
        let Some(name) = template else {
            return &self.unmatched;
        };
        let mut seed = 0u64;
        loop {
            let key = name_hash(name, seed);
            let entry = self.table.get_or_insert(key, || {
                let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                RouteEntry::new(id, name, self.exclude.matches(name))
            });
            match entry {
                Lookup::Found(e) if *e.name == *name => return e,
                // A 64-bit hash collision between two templates: probe again.
                Lookup::Found(_) => seed += 1,
                Lookup::Full => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return &self.overflow;
                }
            }
        }
    }

    /// The `__overflow__` route of the overflow series.
    pub(crate) fn overflow(&self) -> &RouteEntry {
        &self.overflow
    }

    /// Number of interned templates.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }
}

/// FNV-1a over a name's bytes (route templates, operation names): short keys,
/// no allocation, seedable for collisions.
#[inline]
pub(crate) fn name_hash(s: &str, seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed.wrapping_mul(0x100_0000_01b3);
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    // Keep clear of the table's EMPTY marker.
    if h == u64::MAX { h - 1 } else { h }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_intern_once_and_respect_exclusions_and_cap() {
        let routes = Routes::new(3, RouteFilter::new(["/internal/*", "/metrics"]));
        let dropped = AtomicU64::new(0);
        let a = routes.get(Some("/a/{id}"), &dropped) as *const RouteEntry;
        assert_eq!(
            a,
            routes.get(Some("/a/{id}"), &dropped) as *const RouteEntry
        );
        assert!(routes.get(Some("/internal/x"), &dropped).excluded);
        assert!(routes.get(Some("/metrics"), &dropped).excluded);
        assert!(!routes.get(Some("/metricsx"), &dropped).excluded);
        assert_eq!(&*routes.get(Some("/b"), &dropped).name, OVERFLOW_ROUTE);
        assert_eq!(&*routes.get(None, &dropped).name, UNMATCHED_ROUTE);
        // `/metricsx` and `/b` both arrived after the cap of three templates.
        assert_eq!(dropped.load(Ordering::Relaxed), 2);
        assert_eq!(routes.len(), 3);
    }
}
