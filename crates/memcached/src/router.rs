//! [`StableRendezvous`]: which server holds a key.

use memcache::exp::Router;

/// Rendezvous (highest-random-weight) hashing with a hash that is fixed forever.
///
/// Each key goes to the server whose name scores highest for it, the score being a hash of the
/// server name and the key. Adding a server moves only the keys the new server now wins (about
/// `1/N` of them with `N` servers after the change); removing one moves only its own keys.
///
/// The memcache crate's own router hashes with std's `DefaultHasher`, whose output Rust does not
/// promise to keep between releases: two application servers built with different compilers
/// could then look for the same session on different memcached servers. This router uses
/// 64-bit FNV-1a over `server name, 0xff, key`, finished with the SplitMix64 mixer, so every
/// build of every program that uses it agrees.
#[derive(Debug, Clone, Copy, Default)]
pub struct StableRendezvous;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl StableRendezvous {
    /// The score of `server` for `key`: the highest score wins the key.
    pub fn score(server: &str, key: &[u8]) -> u64 {
        let h = fnv1a(FNV_OFFSET, server.as_bytes());
        splitmix64(fnv1a(fnv1a(h, &[0xff]), key))
    }

    /// The index in `servers` of the server that holds `key` (0 when `servers` is empty).
    pub fn pick<S: AsRef<str>>(key: &[u8], servers: &[S]) -> usize {
        let mut best = (0, 0u64);
        for (i, server) in servers.iter().enumerate() {
            let score = Self::score(server.as_ref(), key);
            if i == 0 || score > best.1 {
                best = (i, score);
            }
        }
        best.0
    }
}

impl Router for StableRendezvous {
    fn route(&self, key: &[u8], servers: &[String]) -> usize {
        Self::pick(key, servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("sessionkit:{i:032}").into_bytes())
            .collect()
    }

    #[test]
    fn fixed_values() {
        // Pinned: changing the hash would move every session of every deployment.
        assert_eq!(fnv1a(FNV_OFFSET, b""), FNV_OFFSET);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            StableRendezvous::score("127.0.0.1:11211", b"sessionkit:abc"),
            StableRendezvous::score("127.0.0.1:11211", b"sessionkit:abc")
        );
        let servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
        let picks: Vec<usize> = keys(8)
            .iter()
            .map(|k| StableRendezvous::pick(k, &servers))
            .collect();
        assert_eq!(picks, PINNED_PICKS);
    }

    const PINNED_PICKS: [usize; 8] = [0, 0, 0, 0, 2, 1, 0, 1];

    #[test]
    fn spreads_evenly_and_ignores_order() {
        let servers = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
        let reversed = ["10.0.0.3:11211", "10.0.0.2:11211", "10.0.0.1:11211"];
        let mut counts = [0usize; 3];
        for k in keys(30_000) {
            let i = StableRendezvous::pick(&k, &servers);
            counts[i] += 1;
            assert_eq!(servers[i], reversed[StableRendezvous::pick(&k, &reversed)]);
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn adding_a_server_moves_about_a_quarter() {
        let three = ["10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"];
        let four = [
            "10.0.0.1:11211",
            "10.0.0.2:11211",
            "10.0.0.3:11211",
            "10.0.0.4:11211",
        ];
        let mut moved = 0;
        for k in keys(20_000) {
            let before = three[StableRendezvous::pick(&k, &three)];
            let after = four[StableRendezvous::pick(&k, &four)];
            if before != after {
                assert_eq!(after, "10.0.0.4:11211", "a key moved between old servers");
                moved += 1;
            }
        }
        assert!((4_000..6_000).contains(&moved), "moved {moved} of 20000");
    }
}
