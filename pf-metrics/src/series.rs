//! Sharded atomic storage for one label set.
//!
//! Every series keeps one copy of its counters per shard, each shard on its own
//! cache lines; a thread always writes the shard it was assigned, so two worker
//! threads recording the same series never write the same cache line. A scrape
//! adds the shards up.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A cache line of counters; series allocate whole lines so shards never share one.
#[repr(C, align(64))]
struct Line([AtomicU64; 8]);

const LINE_WORDS: usize = 8;

/// Histogram layout inside a shard: `[sum, bucket_0, .., bucket_n, +Inf]`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HistogramLayout {
    /// Offset of the sum word within a shard.
    pub(crate) offset: usize,
    /// Finite bucket count; the `+Inf` bucket follows them.
    pub(crate) buckets: usize,
}

impl HistogramLayout {
    pub(crate) const fn words(buckets: usize) -> usize {
        buckets + 2
    }
}

/// Storage for one series: `shards` copies of `stride` words.
pub(crate) struct Cells {
    lines: Box<[Line]>,
    stride: usize,
    shards: usize,
}

impl Cells {
    /// `words` per shard, rounded up to whole cache lines.
    pub(crate) fn new(words: usize, shards: usize) -> Self {
        let lines_per_shard = words.div_ceil(LINE_WORDS).max(1);
        let lines = (0..lines_per_shard * shards)
            .map(|_| Line(Default::default()))
            .collect();
        Self {
            lines,
            stride: lines_per_shard * LINE_WORDS,
            shards,
        }
    }

    #[inline]
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: `Line` is `repr(C)` over `[AtomicU64; 8]` with no padding
        // (size 64 == 8 * 8), so the lines form one contiguous word array.
        unsafe {
            std::slice::from_raw_parts(
                self.lines.as_ptr().cast::<AtomicU64>(),
                self.lines.len() * LINE_WORDS,
            )
        }
    }

    /// The words of the calling thread's shard.
    #[inline]
    pub(crate) fn local(&self) -> &[AtomicU64] {
        let shard = current_shard() & (self.shards - 1);
        let start = shard * self.stride;
        &self.words()[start..start + self.stride]
    }

    /// Sum of one word over all shards.
    pub(crate) fn sum(&self, word: usize) -> u64 {
        let words = self.words();
        (0..self.shards)
            .map(|s| words[s * self.stride + word].load(Ordering::Relaxed))
            .fold(0u64, u64::wrapping_add)
    }

    /// Observation count of a histogram: the sum of its buckets.
    pub(crate) fn count(&self, layout: HistogramLayout) -> u64 {
        (0..=layout.buckets)
            .map(|b| self.sum(layout.offset + 1 + b))
            .fold(0u64, u64::wrapping_add)
    }

    /// Cumulative bucket counts of a histogram (without `+Inf`) and its total count.
    pub(crate) fn histogram(
        &self,
        layout: HistogramLayout,
        cumulative: &mut Vec<u64>,
    ) -> (u64, u64) {
        cumulative.clear();
        let mut running = 0u64;
        for b in 0..=layout.buckets {
            running = running.wrapping_add(self.sum(layout.offset + 1 + b));
            if b < layout.buckets {
                cumulative.push(running);
            }
        }
        (running, self.sum(layout.offset))
    }
}

/// Adds one observation to a histogram in the given shard words.
#[inline]
pub(crate) fn observe(shard: &[AtomicU64], layout: HistogramLayout, bounds: &[u64], value: u64) {
    // Linear scan: bucket lists are short and small values hit early.
    let bucket = bounds
        .iter()
        .position(|&b| value <= b)
        .unwrap_or(bounds.len());
    // Bodiless requests are common: skip adding a zero.
    if value != 0 {
        shard[layout.offset].fetch_add(value, Ordering::Relaxed);
    }
    shard[layout.offset + 1 + bucket].fetch_add(1, Ordering::Relaxed);
}

static NEXT_SHARD: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static SHARD: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// The calling thread's shard number, assigned round-robin on first use.
///
/// Round-robin (rather than hashing the thread ID) gives the first N worker
/// threads N distinct shards.
#[inline]
fn current_shard() -> usize {
    SHARD.with(|s| {
        let v = s.get();
        if v != u32::MAX {
            return v as usize;
        }
        let v = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) & (u32::MAX >> 1);
        s.set(v);
        v as usize
    })
}

/// Default shard count: the machine's parallelism rounded up to a power of
/// two, capped so that a full series table stays small.
pub(crate) fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .next_power_of_two()
        .min(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_le_inclusive() {
        let layout = HistogramLayout {
            offset: 1,
            buckets: 3,
        };
        let cells = Cells::new(1 + HistogramLayout::words(3), 4);
        let bounds = [10, 20, 30];
        for v in [0, 10, 11, 20, 30, 31, 1000] {
            observe(cells.local(), layout, &bounds, v);
        }
        let mut cum = Vec::new();
        let (count, sum) = cells.histogram(layout, &mut cum);
        assert_eq!(cum, vec![2, 4, 5]);
        assert_eq!(count, 7);
        assert_eq!(sum, 10 + 11 + 20 + 30 + 31 + 1000);
    }

    #[test]
    fn shards_sum_across_threads() {
        let cells = std::sync::Arc::new(Cells::new(1, 2));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let c = cells.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.local()[0].fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(cells.sum(0), 4000);
    }
}
