//! A block of random bytes handed out once each. The edge redraws it from the runtime's
//! CSPRNG (`crypto.getRandomValues`) at the start of every HTTP request, so a request's tokens
//! cost one call into the runtime instead of one each; a byte is never handed out twice, and
//! an unused rest is overwritten by the next draw.

/// Covers every token a request makes (the callback uses ~110 bytes); a longer request draws
/// another block.
pub const POOL_BYTES: usize = 256;

/// Random bytes waiting to be handed out; the source is passed in, so the rules are testable.
pub struct RandomPool {
    bytes: [u8; POOL_BYTES],
    /// Bytes before this index have been handed out (and wiped).
    next: usize,
}

impl Default for RandomPool {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomPool {
    /// An empty pool: the first draw fills it.
    pub const fn new() -> Self {
        Self {
            bytes: [0; POOL_BYTES],
            next: POOL_BYTES,
        }
    }

    /// Replaces the whole block with fresh bytes from `fill`. On failure the pool is left empty,
    /// so nothing old is handed out in place of the new.
    pub fn redraw(&mut self, fill: impl FnOnce(&mut [u8]) -> bool) -> bool {
        let ok = fill(&mut self.bytes);
        if !ok {
            self.bytes.fill(0);
        }
        self.next = if ok { 0 } else { POOL_BYTES };
        ok
    }

    /// `N` bytes never handed out before, drawing a fresh block when fewer are left (and
    /// drawing directly for requests larger than a block). `None` when `fill` fails.
    pub fn take<const N: usize>(
        &mut self,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> Option<[u8; N]> {
        let mut out = [0u8; N];
        if N > POOL_BYTES {
            return fill(&mut out).then_some(out);
        }
        if POOL_BYTES - self.next < N && !self.redraw(fill) {
            return None;
        }
        let start = self.next;
        out.copy_from_slice(&self.bytes[start..start + N]);
        self.bytes[start..start + N].fill(0);
        self.next = start + N;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that numbers its bytes 1, 2, 3… across calls, so reuse would show.
    fn counter() -> impl FnMut(&mut [u8]) -> bool {
        let mut n: u32 = 0;
        move |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                n += 1;
                *b = (n % 251) as u8 + 1;
            }
            true
        }
    }

    #[test]
    fn an_empty_pool_draws_on_first_use() {
        let mut fill = counter();
        let mut pool = RandomPool::new();
        assert_eq!(pool.take::<4>(&mut fill), Some([2, 3, 4, 5]));
    }

    #[test]
    fn bytes_are_handed_out_once_and_wiped() {
        let mut fill = counter();
        let mut pool = RandomPool::new();
        assert!(pool.redraw(&mut fill));
        let a = pool.take::<32>(&mut fill).unwrap();
        let b = pool.take::<32>(&mut fill).unwrap();
        assert_ne!(a, b);
        assert_eq!(&pool.bytes[..64], &[0u8; 64][..]);
        assert_eq!(pool.next, 64);
    }

    #[test]
    fn a_short_pool_draws_a_fresh_block() {
        let calls = std::cell::Cell::new(0u8);
        let fill = |buf: &mut [u8]| {
            calls.set(calls.get() + 1);
            buf.fill(calls.get());
            true
        };
        let mut pool = RandomPool::new();
        assert!(pool.redraw(fill));
        for _ in 0..(POOL_BYTES / 32) {
            assert_eq!(pool.take::<32>(fill), Some([1; 32]));
        }
        // The block is used up: the next token comes from a second draw.
        assert_eq!(pool.take::<32>(fill), Some([2; 32]));
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_failing_source_gives_nothing_and_leaves_nothing() {
        let mut pool = RandomPool::new();
        assert!(pool.redraw(|b: &mut [u8]| {
            b.fill(7);
            true
        }));
        assert!(!pool.redraw(|b: &mut [u8]| {
            b[0] = 9;
            false
        }));
        assert_eq!(pool.take::<16>(|_: &mut [u8]| false), None);
        assert_eq!(pool.bytes, [0u8; POOL_BYTES]);
    }

    #[test]
    fn requests_larger_than_a_block_draw_directly() {
        let mut pool = RandomPool::new();
        let big = pool
            .take::<{ POOL_BYTES + 1 }>(|b: &mut [u8]| {
                b.fill(5);
                true
            })
            .unwrap();
        assert!(big.iter().all(|&x| x == 5));
        assert_eq!(pool.next, POOL_BYTES);
    }
}
