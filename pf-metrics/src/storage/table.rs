//! A fixed-capacity, insert-only, lock-free-read hash table of series.
//!
//! Why not a `HashMap` behind a lock: the request path must take no lock and
//! allocate nothing once a series exists. Keys are packed `u64`s, values are
//! boxed series owned by the table and never freed before it, so a reader can
//! hand out `&T` for the table's lifetime. Inserts (rare: once per new label
//! set) serialize on a mutex; lookups are a multiply and one or two acquire
//! loads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

const EMPTY: u64 = u64::MAX;

struct Slot<T> {
    key: AtomicU64,
    value: AtomicPtr<T>,
}

pub(crate) struct SeriesTable<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    /// Insertion order, so that the exposition is stable and readable.
    order: Box<[AtomicPtr<T>]>,
    len: AtomicUsize,
    insert_lock: Mutex<()>,
}

/// Result of [`SeriesTable::get_or_insert`].
pub(crate) enum Lookup<'a, T> {
    Found(&'a T),
    /// The table holds `capacity` series already.
    Full,
}

#[inline]
fn spread(key: u64) -> u64 {
    // Fibonacci hashing: one multiply spreads packed keys over the table.
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29)
}

impl<T> SeriesTable<T> {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // At most half full, so a probe always meets an empty slot.
        let size = (capacity * 2).next_power_of_two();
        let slots = (0..size)
            .map(|_| Slot {
                key: AtomicU64::new(EMPTY),
                value: AtomicPtr::new(std::ptr::null_mut()),
            })
            .collect();
        let order = (0..capacity)
            .map(|_| AtomicPtr::new(std::ptr::null_mut()))
            .collect();
        Self {
            slots,
            mask: size - 1,
            order,
            len: AtomicUsize::new(0),
            insert_lock: Mutex::new(()),
        }
    }

    /// Lock-free lookup.
    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<&T> {
        debug_assert_ne!(key, EMPTY);
        let mut i = spread(key) as usize & self.mask;
        loop {
            let slot = &self.slots[i];
            let k = slot.key.load(Ordering::Acquire);
            if k == key {
                // Published before the key (release store in `insert_locked`).
                let p = slot.value.load(Ordering::Relaxed);
                // SAFETY: non-null once the key is visible; owned by the table.
                return Some(unsafe { &*p });
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Looks `key` up, inserting `make()` when absent and the table has room.
    #[inline]
    pub(crate) fn get_or_insert(&self, key: u64, make: impl FnOnce() -> T) -> Lookup<'_, T> {
        match self.get(key) {
            Some(v) => Lookup::Found(v),
            None => self.insert_slow(key, make),
        }
    }

    #[cold]
    fn insert_slow(&self, key: u64, make: impl FnOnce() -> T) -> Lookup<'_, T> {
        let _guard = self
            .insert_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(v) = self.get(key) {
            return Lookup::Found(v);
        }
        let len = self.len.load(Ordering::Relaxed);
        if len >= self.order.len() {
            return Lookup::Full;
        }
        let ptr = Box::into_raw(Box::new(make()));
        let mut i = spread(key) as usize & self.mask;
        loop {
            let slot = &self.slots[i];
            if slot.key.load(Ordering::Relaxed) == EMPTY {
                slot.value.store(ptr, Ordering::Relaxed);
                slot.key.store(key, Ordering::Release);
                break;
            }
            i = (i + 1) & self.mask;
        }
        self.order[len].store(ptr, Ordering::Relaxed);
        self.len.store(len + 1, Ordering::Release);
        // SAFETY: just boxed; freed only when the table drops.
        Lookup::Found(unsafe { &*ptr })
    }

    /// Series in insertion order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        let len = self.len.load(Ordering::Acquire);
        self.order[..len].iter().map(|p| {
            // SAFETY: entries below `len` were published before `len` (release).
            unsafe { &*p.load(Ordering::Relaxed) }
        })
    }

    /// The most series the table holds.
    pub(crate) fn capacity(&self) -> usize {
        self.order.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}

impl<T> Drop for SeriesTable<T> {
    fn drop(&mut self) {
        let len = *self.len.get_mut();
        for p in &mut self.order[..len] {
            // SAFETY: each pointer came from `Box::into_raw` and is freed once.
            drop(unsafe { Box::from_raw(*p.get_mut()) });
        }
    }
}

// SAFETY: the table owns its values (boxed, freed only in `drop`) and hands
// them out only as `&T`: moving the table to another thread moves owned `T`s
// (`T: Send`), sharing it shares `&T`s (`T: Sync`); inserts serialize on a mutex.
unsafe impl<T: Send + Sync> Send for SeriesTable<T> {}
// SAFETY: as for `Send` above: concurrent readers only get `&T` (`T: Sync`),
// and writers publish each value with a release store before its key.
unsafe impl<T: Send + Sync> Sync for SeriesTable<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_then_finds_without_duplicates() {
        let t = SeriesTable::with_capacity(100);
        for k in 0..100u64 {
            assert!(matches!(t.get_or_insert(k, || k * 10), Lookup::Found(v) if *v == k * 10));
        }
        for k in 0..100u64 {
            assert_eq!(t.get(k), Some(&(k * 10)));
            assert!(matches!(t.get_or_insert(k, || 0), Lookup::Found(v) if *v == k * 10));
        }
        assert!(matches!(t.get_or_insert(1000, || 1), Lookup::Full));
        assert_eq!(t.len(), 100);
        assert_eq!(
            t.iter().copied().collect::<Vec<_>>(),
            (0..100).map(|k| k * 10).collect::<Vec<_>>()
        );
    }

    #[test]
    fn concurrent_inserts_agree() {
        let t = std::sync::Arc::new(SeriesTable::with_capacity(64));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..64u64)
                        .map(|k| match t.get_or_insert(k, || k) {
                            Lookup::Found(v) => v as *const u64 as usize,
                            Lookup::Full => unreachable!("capacity is 64"),
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(results.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(t.len(), 64);
    }
}
