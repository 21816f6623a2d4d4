//! A deterministic stratified train/test split.
//!
//! Each class's samples (in file order) are shuffled with a SplitMix64 stream seeded from `seed`,
//! and the first `round(n_c · test_fraction)` of them go to the test split. Both splits keep the
//! original file order. SplitMix64 is a reproducibility tool for partitioning public data, never a
//! source of secrets (keys and noise come from a CSPRNG elsewhere).

use crate::Dataset;

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fully specified, stable across platforms.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`) by rejection, so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        let zone = u64::MAX - u64::MAX % n;
        loop {
            let r = self.next_u64();
            if r < zone {
                return r % n;
            }
        }
    }
}

/// Splits `data` into `(train, test)` with `round(n_c · test_fraction)` samples of each class `c`
/// in the test part. `test_fraction` is clamped to `[0, 1]`.
pub fn stratified_split(data: &Dataset, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
    let frac = test_fraction.clamp(0.0, 1.0);
    let mut rng = SplitMix64::new(seed);
    let mut in_test = vec![false; data.len()];
    for class in 0..data.label_count() as u32 {
        let mut members: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels()[i] == class)
            .collect();
        for i in (1..members.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            members.swap(i, j);
        }
        let take = (members.len() as f64 * frac).round() as usize;
        for &i in &members[..take] {
            in_test[i] = true;
        }
    }
    let train: Vec<usize> = (0..data.len()).filter(|&i| !in_test[i]).collect();
    let test: Vec<usize> = (0..data.len()).filter(|&i| in_test[i]).collect();
    (data.subset(&train), data.subset(&test))
}
