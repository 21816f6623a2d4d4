//! Primality testing and the search for NTT-friendly primes (p ≡ 1 mod 2N).

use super::modarith::Modulus;

/// Deterministic Miller–Rabin for all 64-bit integers (the first twelve primes as witnesses
/// are enough below 3.3·10^24).
pub fn is_prime(n: u64) -> bool {
    const WITNESSES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    if n < 2 {
        return false;
    }
    for &w in &WITNESSES {
        if n == w {
            return true;
        }
        if n.is_multiple_of(w) {
            return false;
        }
    }
    let m = Modulus::new(n);
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'witness: for &a in &WITNESSES {
        let mut x = m.pow(a, d);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = m.mul(x, x);
            if x == n - 1 {
                continue 'witness;
            }
        }
        return false;
    }
    true
}

/// Finds `count` distinct primes p ≡ 1 (mod 2N) in [2^(bits-1), 2^bits), largest first,
/// skipping any in `exclude`.
pub fn primes_below(bits: u32, two_n: u64, count: usize, exclude: &[u64]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return Some(out);
    }
    let top = 1u64 << bits;
    let low = 1u64 << (bits - 1);
    // Largest candidate ≡ 1 mod 2N below 2^bits.
    let mut c = top - two_n + 1;
    while c > low {
        if !exclude.contains(&c) && is_prime(c) {
            out.push(c);
            if out.len() == count {
                return Some(out);
            }
        }
        c = c.checked_sub(two_n)?;
    }
    None
}

/// Finds `count` distinct NTT-friendly primes close to 2^bits, chosen alternately just above
/// and just below 2^bits so that running products stay close to powers of 2^bits (scale drift
/// across rescales stays tiny). Never exceeds `max_value`.
pub fn primes_near(
    bits: u32,
    two_n: u64,
    count: usize,
    exclude: &[u64],
    max_value: u64,
) -> Option<Vec<u64>> {
    let center = 1u64 << bits;
    let mut up = center + 1; // ≡ 1 mod 2N because 2N divides 2^bits (bits ≥ log2(2N))
    let mut down = center + 1 - two_n;
    let mut out = Vec::with_capacity(count);
    let mut log_ratio = 0.0f64; // log2(product / 2^(bits·len))
    while out.len() < count {
        let want_up = log_ratio <= 0.0;
        let found = if want_up && up <= max_value {
            let mut f = None;
            while up <= max_value {
                let c = up;
                up = up.checked_add(two_n)?;
                if !exclude.contains(&c) && is_prime(c) {
                    f = Some(c);
                    break;
                }
            }
            f
        } else {
            None
        };
        let p = match found {
            Some(p) => p,
            None => loop {
                let c = down;
                down = down.checked_sub(two_n)?;
                if c < (1u64 << (bits - 1)) {
                    return None;
                }
                if !exclude.contains(&c) && is_prime(c) {
                    break c;
                }
            },
        };
        log_ratio += (p as f64).log2() - bits as f64;
        out.push(p);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn miller_rabin_agrees_with_trial_division() {
        for n in 0u64..5000 {
            let trial = n >= 2 && (2..n).take_while(|d| d * d <= n).all(|d| n % d != 0);
            assert_eq!(is_prime(n), trial, "n = {n}");
        }
        assert!(is_prime(0x3fff_ffff_ffff_ffc7));
        assert!(!is_prime(3_215_031_751)); // strong pseudoprime to bases 2, 3, 5, 7
    }

    #[test]
    fn ntt_friendly_primes_are_congruent_and_close() {
        let two_n = 1u64 << 15;
        let ps = primes_near(40, two_n, 8, &[], 1 << 61).unwrap_or_default();
        assert_eq!(ps.len(), 8);
        let mut drift = 0.0;
        for &p in &ps {
            assert!(is_prime(p));
            assert_eq!(p % two_n, 1);
            drift += (p as f64).log2() - 40.0;
            assert!(drift.abs() < 1e-3, "drift {drift}");
        }
        let big = primes_below(60, two_n, 3, &ps).unwrap_or_default();
        assert_eq!(big.len(), 3);
        assert!(
            big.iter()
                .all(|&p| p < 1 << 60 && p > 1 << 59 && p % two_n == 1)
        );
    }
}
