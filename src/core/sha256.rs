//! SHA-256 (FIPS 180-4), the hash of the fingerprint and of the key generator.
//!
//! Written here instead of taken from the `sha2` crate for the wasm's size (issue 13): sha2's
//! portable backend unrolls all 64 rounds, and its `digest` traits bring a block buffer and
//! generic finalisation (8.9 KB raw of the wasm, with their panic locations); this one runs
//! sixteen rounds per turn over a sixteen-word window of the schedule, and fills a partial block
//! byte by byte (3.4 KB raw; the wasm 6.3 KB raw, 1.3 KB brotli smaller), and hashes as fast
//! (64 KB in 251 µs against 254 µs through the binding in Node, measured 2026-12-02; the
//! `compact` backend of sha2 took 1.5× as long). Nothing in it depends on its input in a way timing would show (no table lookup by
//! data, no branch on it). Checked against the FIPS examples and, in native tests and a fuzz
//! target, against `sha2`, whole and fed in pieces.

/// The first 32 bits of the fractional parts of the cube roots of the first 64 primes, sixteen
/// per turn of [`compress`].
const K: [[u32; 16]; 4] = [
    [
        0x428a_2f98,
        0x7137_4491,
        0xb5c0_fbcf,
        0xe9b5_dba5,
        0x3956_c25b,
        0x59f1_11f1,
        0x923f_82a4,
        0xab1c_5ed5,
        0xd807_aa98,
        0x1283_5b01,
        0x2431_85be,
        0x550c_7dc3,
        0x72be_5d74,
        0x80de_b1fe,
        0x9bdc_06a7,
        0xc19b_f174,
    ],
    [
        0xe49b_69c1,
        0xefbe_4786,
        0x0fc1_9dc6,
        0x240c_a1cc,
        0x2de9_2c6f,
        0x4a74_84aa,
        0x5cb0_a9dc,
        0x76f9_88da,
        0x983e_5152,
        0xa831_c66d,
        0xb003_27c8,
        0xbf59_7fc7,
        0xc6e0_0bf3,
        0xd5a7_9147,
        0x06ca_6351,
        0x1429_2967,
    ],
    [
        0x27b7_0a85,
        0x2e1b_2138,
        0x4d2c_6dfc,
        0x5338_0d13,
        0x650a_7354,
        0x766a_0abb,
        0x81c2_c92e,
        0x9272_2c85,
        0xa2bf_e8a1,
        0xa81a_664b,
        0xc24b_8b70,
        0xc76c_51a3,
        0xd192_e819,
        0xd699_0624,
        0xf40e_3585,
        0x106a_a070,
    ],
    [
        0x19a4_c116,
        0x1e37_6c08,
        0x2748_774c,
        0x34b0_bcb5,
        0x391c_0cb3,
        0x4ed8_aa4a,
        0x5b9c_ca4f,
        0x682e_6ff3,
        0x748f_82ee,
        0x78a5_636f,
        0x84c8_7814,
        0x8cc7_0208,
        0x90be_fffa,
        0xa450_6ceb,
        0xbef9_a3f7,
        0xc671_78f2,
    ],
];

/// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A hash being computed: feed it with [`Sha256::update`], end it with [`Sha256::finish`].
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    /// The bytes of a block not yet full.
    block: [u8; 64],
    /// How many bytes of `block` are filled.
    filled: usize,
    /// How many bytes were hashed in all.
    length: u64,
}

impl Default for Sha256 {
    fn default() -> Sha256 {
        Sha256::new()
    }
}

impl Sha256 {
    /// A hash of nothing yet.
    pub fn new() -> Sha256 {
        Sha256 {
            state: H0,
            block: [0; 64],
            filled: 0,
            length: 0,
        }
    }

    /// Hashes `bytes` after what came before.
    pub fn update(&mut self, bytes: &[u8]) {
        self.length = self.length.wrapping_add(bytes.len() as u64);
        let mut rest = bytes;
        while let Some((&byte, tail)) = rest.split_first() {
            if self.filled == 0 && rest.len() >= 64 {
                // Whole blocks straight from the input; a partial block is filled byte by byte
                // (no slice ranges, so no panic paths in the wasm).
                let mut blocks = rest.chunks_exact(64);
                for block in &mut blocks {
                    if let Ok(block) = <&[u8; 64]>::try_from(block) {
                        compress(&mut self.state, block);
                    }
                }
                rest = blocks.remainder();
                continue;
            }
            self.block[self.filled & 63] = byte;
            self.filled += 1;
            rest = tail;
            if self.filled == 64 {
                compress(&mut self.state, &self.block);
                self.filled = 0;
            }
        }
    }

    /// The digest: the padding (`0x80`, zeros until the block has 8 bytes left, the length in
    /// bits, big-endian) hashed last.
    pub fn finish(mut self) -> [u8; 32] {
        let bits = self.length.wrapping_mul(8);
        self.update(&[0x80]);
        while self.filled != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// SHA-256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(bytes);
    hash.finish()
}

/// One round: `d` and `h` take the new values; the caller renames the rest.
macro_rules! round {
    ($k:expr, $w:expr, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
        let t1 = $h
            .wrapping_add($e.rotate_right(6) ^ $e.rotate_right(11) ^ $e.rotate_right(25))
            .wrapping_add(($e & $f) ^ (!$e & $g))
            .wrapping_add($k)
            .wrapping_add($w);
        let t2 = ($a.rotate_right(2) ^ $a.rotate_right(13) ^ $a.rotate_right(22))
            .wrapping_add(($a & $b) ^ ($a & $c) ^ ($b & $c));
        $d = $d.wrapping_add(t1);
        $h = t1.wrapping_add(t2);
    };
}

/// Eight rounds from `k[at..]` and `w[at..]`, the working variables renamed between them.
macro_rules! eight_rounds {
    ($k:ident, $w:ident, $at:literal, $a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident) => {
        round!($k[$at], $w[$at], $a, $b, $c, $d, $e, $f, $g, $h);
        round!($k[$at + 1], $w[$at + 1], $h, $a, $b, $c, $d, $e, $f, $g);
        round!($k[$at + 2], $w[$at + 2], $g, $h, $a, $b, $c, $d, $e, $f);
        round!($k[$at + 3], $w[$at + 3], $f, $g, $h, $a, $b, $c, $d, $e);
        round!($k[$at + 4], $w[$at + 4], $e, $f, $g, $h, $a, $b, $c, $d);
        round!($k[$at + 5], $w[$at + 5], $d, $e, $f, $g, $h, $a, $b, $c);
        round!($k[$at + 6], $w[$at + 6], $c, $d, $e, $f, $g, $h, $a, $b);
        round!($k[$at + 7], $w[$at + 7], $b, $c, $d, $e, $f, $g, $h, $a);
    };
}

/// The schedule's next word in place of `w[j]` (`w[t-16]`), from `w[t-15]`, `w[t-7]` and `w[t-2]`
/// at their places in the window.
macro_rules! schedule {
    ($w:ident, $j:literal, $w15:literal, $w7:literal, $w2:literal) => {
        let s0 = $w[$w15].rotate_right(7) ^ $w[$w15].rotate_right(18) ^ ($w[$w15] >> 3);
        let s1 = $w[$w2].rotate_right(17) ^ $w[$w2].rotate_right(19) ^ ($w[$w2] >> 10);
        $w[$j] = $w[$j]
            .wrapping_add(s0)
            .wrapping_add($w[$w7])
            .wrapping_add(s1);
    };
}

/// Hashes one 64-byte block into `state`.
///
/// Sixteen rounds per turn over a sixteen-word window of the message schedule, which the turn
/// then advances in place: every index is a constant, so the window lives in the wasm's locals
/// (not in linear memory) as it does in a fully unrolled form, at a quarter of its code.
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    // Spelled out: a loop would index the window by a variable and put it in memory (and at
    // `opt-level = "z"` a closure or an array iterator stays a call per word: 30 % slower).
    #[inline(always)]
    fn word(block: &[u8; 64], i: usize) -> u32 {
        u32::from_be_bytes([block[i], block[i + 1], block[i + 2], block[i + 3]])
    }
    let mut w = [
        word(block, 0),
        word(block, 4),
        word(block, 8),
        word(block, 12),
        word(block, 16),
        word(block, 20),
        word(block, 24),
        word(block, 28),
        word(block, 32),
        word(block, 36),
        word(block, 40),
        word(block, 44),
        word(block, 48),
        word(block, 52),
        word(block, 56),
        word(block, 60),
    ];
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for (turn, k) in K.iter().enumerate() {
        eight_rounds!(k, w, 0, a, b, c, d, e, f, g, h);
        eight_rounds!(k, w, 8, a, b, c, d, e, f, g, h);
        if turn < 3 {
            schedule!(w, 0, 1, 9, 14);
            schedule!(w, 1, 2, 10, 15);
            schedule!(w, 2, 3, 11, 0);
            schedule!(w, 3, 4, 12, 1);
            schedule!(w, 4, 5, 13, 2);
            schedule!(w, 5, 6, 14, 3);
            schedule!(w, 6, 7, 15, 4);
            schedule!(w, 7, 8, 0, 5);
            schedule!(w, 8, 9, 1, 6);
            schedule!(w, 9, 10, 2, 7);
            schedule!(w, 10, 11, 3, 8);
            schedule!(w, 11, 12, 4, 9);
            schedule!(w, 12, 13, 5, 10);
            schedule!(w, 13, 14, 6, 11);
            schedule!(w, 14, 15, 7, 12);
            schedule!(w, 15, 0, 8, 13);
        }
    }
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
    state[4] = state[4].wrapping_add(e);
    state[5] = state[5].wrapping_add(f);
    state[6] = state[6].wrapping_add(g);
    state[7] = state[7].wrapping_add(h);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sha2::Digest;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_fips_examples() {
        // FIPS 180-4's examples (NIST's "SHA256.pdf", "SHA256_2.pdf", the million `a`s) and
        // the empty message.
        assert_eq!(
            hex(&digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(&digest(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        let mut million = Sha256::new();
        for _ in 0..1000 {
            million.update(&[b'a'; 1000]);
        }
        assert_eq!(
            hex(&million.finish()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    #[test]
    fn every_length_around_the_block_and_padding_edges() {
        // 55, 56 and 64 bytes are where the padding needs a second block or not.
        for len in 0..=200 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            assert_eq!(
                digest(&bytes)[..],
                sha2::Sha256::digest(&bytes)[..],
                "length {len}"
            );
        }
    }

    proptest! {
        #[test]
        fn matches_sha2_fed_in_pieces(bytes in proptest::collection::vec(any::<u8>(), 0..2000), cuts in proptest::collection::vec(0usize..2000, 0..6)) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut hash = Sha256::new();
            let mut at = 0;
            for cut in cuts {
                hash.update(&bytes[at..cut]);
                at = cut;
            }
            hash.update(&bytes[at..]);
            prop_assert_eq!(&hash.finish()[..], &sha2::Sha256::digest(&bytes)[..]);
        }
    }
}
