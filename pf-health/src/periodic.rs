//! The background loop of periodic checks.

use std::sync::Weak;

use crate::options::Mode;
use crate::slot::{Slot, wait};

/// The background loop of a periodic check; ends when the registry is dropped.
pub(crate) async fn refresh_periodically(slot: Weak<Slot>) {
    loop {
        let (mut rx, interval, jitter) = {
            let Some(slot) = slot.upgrade() else { return };
            let Mode::Periodic { interval, jitter } = slot.options.mode else {
                return;
            };
            (slot.trigger(), interval, jitter)
        };
        wait(&mut rx).await;
        tokio::time::sleep(interval + jitter.mul_f64(random_fraction())).await;
    }
}

/// A random number in [0, 1) without a dependency: `RandomState` is randomly seeded.
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    // Every `RandomState::new()` has fresh keys, so hashing anything gives a new number.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u8(0);
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}
