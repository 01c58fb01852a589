//! Keccak-256 (the original Keccak padding, as Ethereum uses it; not
//! FIPS 202 SHA3-256), for the EIP-55 checksum of Ethereum addresses.
//!
//! Our own Keccak-f\[1600\] rather than a crate: the checksum hashes one
//! 40-byte string per candidate (a mixed-case `0x` + 40 hex run, rare in
//! real traffic), so a plain loop over the permutation is fast enough, and
//! it adds nothing to the dependency tree.
//! The sponge is shared with SHA3-256 (same permutation, padding byte 0x06)
//! only so the tests can check multi-block input against FIPS 202 vectors.

/// Round constants of ι.
const RC: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// ρ rotations, in the order π visits the lanes.
const ROT: [u32; 24] = [
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
];

/// π: the lane each step of the ρ-π walk moves to (lane index x + 5y).
const PI: [usize; 24] = [
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
];

fn keccak_f(a: &mut [u64; 25]) {
    for rc in RC {
        // θ
        let mut c = [0u64; 5];
        for (x, cx) in c.iter_mut().enumerate() {
            *cx = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        }
        for x in 0..5 {
            let d = c[(x + 4) % 5] ^ c[(x + 1) % 5].rotate_left(1);
            for y in 0..5 {
                a[x + 5 * y] ^= d;
            }
        }
        // ρ and π
        let mut carry = a[1];
        for (to, r) in PI.iter().zip(ROT) {
            let next = a[*to];
            a[*to] = carry.rotate_left(r);
            carry = next;
        }
        // χ
        for y in 0..5 {
            let row = [
                a[5 * y],
                a[5 * y + 1],
                a[5 * y + 2],
                a[5 * y + 3],
                a[5 * y + 4],
            ];
            for x in 0..5 {
                a[5 * y + x] = row[x] ^ (!row[(x + 1) % 5] & row[(x + 2) % 5]);
            }
        }
        // ι
        a[0] ^= rc;
    }
}

/// The sponge with a 1088-bit rate (256-bit output), `pad` the domain
/// byte: 0x01 for Keccak, 0x06 for SHA3.
fn sponge256(data: &[u8], pad: u8) -> [u8; 32] {
    const RATE: usize = 136;
    let mut st = [0u64; 25];
    let absorb = |st: &mut [u64; 25], block: &[u8; RATE]| {
        for (lane, w) in st.iter_mut().zip(block.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            *lane ^= u64::from_le_bytes(b);
        }
        keccak_f(st);
    };
    let mut blocks = data.chunks_exact(RATE);
    for b in &mut blocks {
        let mut block = [0u8; RATE];
        block.copy_from_slice(b);
        absorb(&mut st, &block);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; RATE];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] ^= pad;
    last[RATE - 1] ^= 0x80;
    absorb(&mut st, &last);
    let mut out = [0u8; 32];
    for (o, lane) in out.chunks_exact_mut(8).zip(st) {
        o.copy_from_slice(&lane.to_le_bytes());
    }
    out
}

/// Keccak-256 of `data`.
pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    sponge256(data, 0x01)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn keccak256_known_vectors() {
        for (input, want) in [
            (
                &b""[..],
                "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
            ),
            (
                b"abc",
                "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
            ),
            (
                b"The quick brown fox jumps over the lazy dog",
                "4d741b6f1eb29cb2a9b9911c82f56fa8d73b04959d3d9d222895df6c0b28aa15",
            ),
        ] {
            assert_eq!(hex(&keccak256(input)), want, "{input:?}");
        }
        // A one-bit change of the input changes the digest.
        assert_ne!(keccak256(b"abc"), keccak256(b"abd"));
    }

    /// The same sponge with SHA3's padding against FIPS 202 SHA3-256 values
    /// (Python's `hashlib.sha3_256`), across the block boundary.
    #[test]
    fn the_sponge_matches_sha3_256_over_several_blocks() {
        for (n, want) in [
            (
                0,
                "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a",
            ),
            (
                135,
                "8094bb53c44cfb1e67b7c30447f9a1c33696d2463ecc1d9c92538913392843c9",
            ),
            (
                136,
                "3fc5559f14db8e453a0a3091edbd2bc25e11528d81c66fa570a4efdcc2695ee1",
            ),
            (
                137,
                "f8d6846cedd2ccfadf15c5879ef95af724d799eed7391fb1c91f95344e738614",
            ),
            (
                300,
                "8a5720b2ca0cae7b89ad399c5daab22c29f5c72bcf30ab81e807d9bda95b4580",
            ),
        ] {
            assert_eq!(hex(&sponge256(&vec![b'a'; n], 0x06)), want, "{n} bytes");
        }
    }
}
