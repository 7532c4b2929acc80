//! Counter-based randomness: `Stream::new(seed, stream)` then `.at(index)` gives an
//! independent, reproducible generator for one item (a person, a concept), so an item's values
//! never depend on how many items came before it or on which thread made it. That is what
//! makes smaller scales exact prefixes of larger ones.

/// SplitMix64's finaliser: a bijective 64-bit mix with good avalanche.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A named stream of a seed, e.g. `Stream::new(seed, "person")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    key: u64,
}

impl Stream {
    pub fn new(seed: u64, name: &str) -> Self {
        // FNV-1a over the name, mixed with the seed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Self {
            key: mix64(seed ^ mix64(h)),
        }
    }

    /// The generator for item `index` of this stream.
    pub fn at(&self, index: u64) -> Rng {
        Rng {
            state: mix64(self.key ^ mix64(index.wrapping_add(0x9e37_79b9_7f4a_7c15))),
        }
    }
}

/// A small, fast generator (SplitMix64) for one item.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)`, 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        loop {
            let x = self.next_u64();
            let m = u128::from(x) * u128::from(n);
            let low = m as u64;
            if low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// A standard normal draw (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A Zipf-like rank in `0..n` with exponent `s` (rank 0 most frequent), by inverting the
    /// continuous approximation of the power law; cheap and monotone in the uniform draw.
    pub fn zipf(&mut self, n: u64, s: f64) -> u64 {
        assert!(n > 0);
        let u = self.unit();
        let nf = n as f64;
        let r = if (s - 1.0).abs() < 1e-9 {
            (nf + 1.0).powf(u) - 1.0
        } else {
            let a = 1.0 - s;
            (((nf + 1.0).powf(a) - 1.0) * u + 1.0).powf(1.0 / a) - 1.0
        };
        (r.floor() as u64).min(n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn items_do_not_depend_on_each_other() {
        let s = Stream::new(42, "person");
        let a: Vec<u64> = (0..3).map(|_| s.at(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(s.at(7).next_u64(), s.at(8).next_u64());
        assert_ne!(
            Stream::new(42, "person").at(7).next_u64(),
            Stream::new(42, "visit").at(7).next_u64()
        );
        assert_ne!(
            Stream::new(42, "person").at(7).next_u64(),
            Stream::new(43, "person").at(7).next_u64()
        );
    }

    #[test]
    fn zipf_is_skewed() {
        let s = Stream::new(1, "z");
        let mut counts = [0u32; 100];
        for i in 0..20_000 {
            counts[s.at(i).zipf(100, 1.1) as usize] += 1;
        }
        assert!(
            counts[0] > counts[10] && counts[10] > counts[90],
            "{:?}",
            &counts[..12]
        );
    }

    proptest! {
        #[test]
        fn below_stays_in_range(seed in any::<u64>(), n in 1u64..1_000_000) {
            let mut r = Stream::new(seed, "t").at(0);
            for _ in 0..20 {
                prop_assert!(r.below(n) < n);
                let u = r.unit();
                prop_assert!((0.0..1.0).contains(&u));
            }
        }

        #[test]
        fn zipf_stays_in_range(seed in any::<u64>(), n in 1u64..100_000, s in 0.5f64..2.0) {
            let mut r = Stream::new(seed, "z").at(3);
            for _ in 0..20 {
                prop_assert!(r.zipf(n, s) < n);
            }
        }
    }
}
