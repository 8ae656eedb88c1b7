//! A fixed-precision histogram of u64 values (times in ns, counts), so quantiles of a whole
//! capture are known without keeping every value: memory follows the number of distinct
//! buckets used, never the number of values.
//!
//! Buckets are log-linear: values below 1024 are exact; above, each power of two is split into
//! 1024 buckets, so a quantile is off by less than 0.05 % (half a bucket): half a millisecond
//! at one second, well inside what a finding needs ("within 5 % of 1000 ms").

use crate::FastMap;

/// Buckets per power of two (and the exact range below it).
const SUB: u64 = 1024;
const SUB_BITS: u32 = 10;

/// A mergeable quantile sketch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    /// Values per bucket. A hash map, not a sorted vector: idle times spread over thousands
    /// of buckets, where every new one would shift the vector; the few readers sort.
    buckets: FastMap<u32, u64>,
    count: u64,
    min: u64,
    max: u64,
}

fn bucket_of(v: u64) -> u32 {
    if v < SUB {
        return v as u32;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) & (SUB - 1);
    ((u64::from(shift) + 1) * SUB + mantissa) as u32
}

/// The middle of a bucket: the value reported for every value in it.
fn value_of(bucket: u32) -> u64 {
    let b = u64::from(bucket);
    if b < SUB {
        return b;
    }
    let shift = b / SUB - 1;
    let mantissa = b % SUB;
    let low = (SUB + mantissa) << shift;
    low + ((1u64 << shift) >> 1)
}

impl Sketch {
    /// Adds one value.
    pub fn add(&mut self, v: u64) {
        self.add_to(bucket_of(v), 1);
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        self.max = self.max.max(v);
        self.count += 1;
    }

    fn add_to(&mut self, bucket: u32, n: u64) {
        *self.buckets.entry(bucket).or_insert(0) += n;
    }

    /// (bucket, values in it), by bucket.
    fn sorted(&self) -> Vec<(u32, u64)> {
        let mut sorted: Vec<(u32, u64)> = self.buckets.iter().map(|(b, n)| (*b, *n)).collect();
        sorted.sort_unstable();
        sorted
    }

    /// Adds every value of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count == 0 {
            return;
        }
        for (b, n) in &other.buckets {
            self.add_to(*b, *n);
        }
        self.min = if self.count == 0 {
            other.min
        } else {
            self.min.min(other.min)
        };
        self.max = self.max.max(other.max);
        self.count += other.count;
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value (exact).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` in [0, 1] (nearest rank; the min and max are exact), or None
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        if q <= 0.0 {
            return Some(self.min);
        }
        if q >= 1.0 {
            return Some(self.max);
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, n) in &self.sorted() {
            seen += n;
            if seen >= rank {
                return Some(value_of(*b).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// One bar of a histogram: values in [lo, hi] (inclusive) and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    /// Smallest value of the bin.
    pub lo: u64,
    /// Largest value of the bin.
    pub hi: u64,
    /// Values in it.
    pub count: u64,
}

impl Sketch {
    /// The values as at most `n` bars for a chart: one per value when they are few distinct
    /// small numbers (requests per connection), log-spaced when they span more than a hundred
    /// times their smallest (times), linear otherwise.
    pub fn bins(&self, n: usize) -> Vec<Bin> {
        if self.count == 0 || n == 0 {
            return Vec::new();
        }
        let (lo, hi) = (self.min, self.max);
        let edges: Vec<u64> = if hi - lo < n as u64 {
            (lo..=hi + 1).collect()
        } else if hi / lo.max(1) > 100 {
            let (a, b) = ((lo.max(1)) as f64, (hi + 1) as f64);
            let mut e: Vec<u64> = (0..=n)
                .map(|i| (a * (b / a).powf(i as f64 / n as f64)).round() as u64)
                .collect();
            e[0] = lo;
            e.dedup();
            e
        } else {
            (0..=n as u64)
                .map(|i| lo + (hi + 1 - lo) * i / n as u64)
                .collect()
        };
        let mut bins: Vec<Bin> = edges
            .windows(2)
            .map(|w| Bin {
                lo: w[0],
                hi: w[1].saturating_sub(1).max(w[0]),
                count: 0,
            })
            .collect();
        let last = bins.len() - 1;
        for (b, count) in &self.buckets {
            let v = value_of(*b).clamp(lo, hi);
            let i = edges.partition_point(|e| *e <= v).saturating_sub(1);
            bins[i.min(last)].count += count;
        }
        bins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut s = Sketch::default();
        for v in [1, 2, 2, 3, 1000] {
            s.add(v);
        }
        assert_eq!(s.quantile(0.5), Some(2));
        assert_eq!(s.quantile(0.9), Some(1000));
        assert_eq!((s.quantile(0.0), s.max(), s.count()), (Some(1), 1000, 5));
    }

    #[test]
    fn large_values_are_within_half_a_permille_and_memory_follows_buckets() {
        let mut s = Sketch::default();
        let values: Vec<u64> = (1..=10_000u64).map(|i| i * 123_457).collect();
        for v in &values {
            s.add(*v);
        }
        for q in [0.1, 0.5, 0.9, 0.99] {
            let exact = values[((q * values.len() as f64).ceil() as usize) - 1] as f64;
            let got = s.quantile(q).expect("value") as f64;
            assert!(
                (got - exact).abs() / exact < 0.0005,
                "q {q}: {got} vs {exact}"
            );
        }
        // A million idle times around one second take a few dozen buckets, not a million.
        let mut idle = Sketch::default();
        for i in 0..1_000_000u64 {
            idle.add(1_000_000_000 + (i * 7_919) % 20_000_000);
        }
        assert!(idle.buckets.len() < 50, "{} buckets", idle.buckets.len());
        let median = idle.quantile(0.5).expect("median") as f64;
        assert!((median - 1.01e9).abs() < 1e6, "{median}");
    }

    #[test]
    fn every_bucket_holds_the_values_that_map_to_it() {
        for v in [
            0,
            127,
            128,
            129,
            1_000,
            1 << 20,
            (1 << 20) + 12_345,
            u64::MAX / 3,
        ] {
            let mid = value_of(bucket_of(v));
            let err = (mid as f64 - v as f64).abs() / (v.max(1) as f64);
            assert!(err < 0.0005, "{v} -> {mid}");
        }
    }

    #[test]
    fn bins_for_charts() {
        let mut small = Sketch::default();
        for v in [1, 1, 1, 2, 5] {
            small.add(v);
        }
        let bins = small.bins(20);
        assert_eq!(bins.len(), 5, "one per value from 1 to 5");
        assert_eq!((bins[0].lo, bins[0].count, bins[4].count), (1, 3, 1));
        let mut times = Sketch::default();
        for i in 1..=1_000u64 {
            times.add(i * i * 1_000);
        }
        let bins = times.bins(30);
        assert!(bins.len() <= 30 && bins.len() > 20, "{}", bins.len());
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 1_000);
        assert!(bins.windows(2).all(|w| w[0].hi < w[1].lo), "{bins:?}");
        assert!(Sketch::default().bins(10).is_empty());
    }

    #[test]
    fn merging_equals_adding_everything_to_one() {
        let (mut a, mut b, mut all) = (Sketch::default(), Sketch::default(), Sketch::default());
        for v in 0..1_000u64 {
            let x = v * v * 7;
            if v % 3 == 0 { &mut a } else { &mut b }.add(x);
            all.add(x);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(Sketch::default().quantile(0.5), None);
    }
}
