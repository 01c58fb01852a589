//! Financial and personal data: payment card numbers, IBANs, US Social
//! Security and bank routing numbers, crypto-wallet secrets and addresses. Each detector needs a checksum (Luhn, mod-97,
//! base58check, bech32, the BIP-39 checksum) plus a shape that real data
//! has and ordinary numbers do not, so a long number in a JSON body of real
//! code passes:
//!
//! - `card-number`: 13–19 digits with a card brand's prefix and length and
//!   a valid Luhn digit, either grouped as cards are printed (`4xxx xxxx
//!   xxxx xxxx`, `3xxx xxxxxx xxxxx`, one separator throughout) or with a
//!   card keyword (`card`, `credit`, `cvv`, `pan`, …) in the 48 bytes
//!   before. Published test numbers (`4242…`, `4111…`) block like any
//!   other: the proxy cannot tell them from real ones (a bottle that sends
//!   them on purpose turns the rule off or allows their fingerprints).
//! - `iban`: a country code, its country's length and a valid mod-97
//!   check, contiguous or in groups of four, upper case (documentation
//!   examples such as `GB82WEST12345698765432` included).
//! - `crypto-wif-key`: a base58check private key (WIF, version 0x80 or
//!   0xef, compressed or not).
//! - `crypto-seed-phrase`: 12, 15, 18, 21 or 24 consecutive BIP-39 words
//!   whose checksum holds.
//! - `crypto-private-key`: 64 hex digits (optionally `0x`) within 48 bytes
//!   after a private-key keyword (`private_key`, `privkey`, `secret key`, …),
//!   or assigned to a short key name (`pk=`, `"pk":`, `eth_pk:`, `priv=`).
//! - `ssn`: a US Social Security number, `123-45-6789` anywhere, or nine
//!   digits (bare, or grouped 3-2-4 by spaces or dots) after an SSN
//!   keyword (`ssn`, `social security`, …) in the 48 bytes before; the area
//!   is not 000, 666 or 9xx, the group not 00, the serial not 0000. Phone
//!   numbers (3-3-4), dates and numbers inside longer ones pass.
//! - `bank-routing-number`: a US ABA routing number, nine digits with the
//!   3-7-1 checksum and a Federal Reserve leading pair, only after a
//!   routing keyword (`routing`, `aba`, `rtn`, …) in the 48 bytes before.
//! - `crypto-address`: a base58check Bitcoin, Litecoin or Dogecoin address
//!   or a bech32/bech32m segwit address (`bc1…`, `tb1…`, `ltc1…`).
//! - `crypto-eth-address`: an Ethereum address, `0x` and 40 hex digits. In
//!   mixed case it carries the EIP-55 checksum (the case of each letter is
//!   a bit of the Keccak-256 of the lower-case hex: about 15 bits for a
//!   random address), which is checked and is enough on its own; in one
//!   case it carries no checksum and needs an address keyword (`eth`,
//!   `wallet`, `address`, `recipient`, …) in the 48 bytes before, like the
//!   card and hex-key rules. Runs of fewer than ten distinct digits (the
//!   zero address, `0x…dEaD` burn addresses) pass.
//!
//! The BIP-39 English word list (`bip39-english.txt`) is the standard's
//! (bitcoin/bips, SHA-256 `2f5eed53…4dbda`).

use crate::config::DlpData;
use crate::reasons::rule;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::OnceLock;

/// A finding: the rule and the canonical value (what its fingerprint is
/// computed over: digits only, upper case without spaces, …).
pub(crate) struct PiiHit {
    pub rule: &'static str,
    pub value: Vec<u8>,
}

/// Run the detectors `data` switches on over one view; the first finding.
pub(crate) fn scan(data: &DlpData, view: &[u8]) -> Option<PiiHit> {
    let hit = |rule: &'static str| move |value: Vec<u8>| PiiHit { rule, value };
    if data.cards
        && let Some(v) = card(view)
    {
        return Some(hit(rule::CARD_NUMBER)(v));
    }
    if data.iban
        && let Some(v) = iban(view)
    {
        return Some(hit(rule::IBAN)(v));
    }
    if data.ssn
        && let Some(v) = ssn(view)
    {
        return Some(hit(rule::SSN)(v));
    }
    if data.bank_routing
        && let Some(v) = bank_routing(view)
    {
        return Some(hit(rule::BANK_ROUTING_NUMBER)(v));
    }
    if (data.crypto_keys || data.crypto_addresses)
        && let Some((is_key, v)) = base58(view, data.crypto_keys, data.crypto_addresses)
    {
        let r = if is_key {
            rule::CRYPTO_WIF_KEY
        } else {
            rule::CRYPTO_ADDRESS
        };
        return Some(hit(r)(v));
    }
    if data.crypto_keys {
        if let Some(v) = seed_phrase(view) {
            return Some(hit(rule::CRYPTO_SEED_PHRASE)(v));
        }
        if let Some(v) = hex_private_key(view) {
            return Some(hit(rule::CRYPTO_PRIVATE_KEY)(v));
        }
    }
    if data.crypto_addresses {
        if let Some(v) = bech32_address(view) {
            return Some(hit(rule::CRYPTO_ADDRESS)(v));
        }
        if let Some(v) = eth_address(view) {
            return Some(hit(rule::CRYPTO_ETH_ADDRESS)(v));
        }
    }
    None
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Lower-cased bytes of the `n` bytes before `start`.
fn before(view: &[u8], start: usize, n: usize) -> Vec<u8> {
    view[start.saturating_sub(n)..start].to_ascii_lowercase()
}

// ---- payment cards -------------------------------------------------------

const CARD_KEYWORDS: &[&[u8]] = &[
    b"card",
    b"credit",
    b"debit",
    b"visa",
    b"mastercard",
    b"amex",
    b"cvv",
    b"cvc",
    b"ccnum",
    b"cc_num",
    b"cc-num",
    b"\"cc\"",
    b"'cc'",
    b"cc=",
    b"pan\"",
    b"pan'",
    b"pan=",
    b"pan:",
    b"_pan",
    b"payment",
];

fn brand_fits(d: &[u8]) -> bool {
    let n = d.len();
    let p = |k: usize| -> u32 {
        d[..k]
            .iter()
            .fold(0u32, |a, c| a * 10 + u32::from(c - b'0'))
    };
    match d[0] {
        b'4' => matches!(n, 13 | 16 | 19),
        b'5' => (51..=55).contains(&p(2)) && n == 16,
        b'2' => (2221..=2720).contains(&p(4)) && n == 16,
        b'3' => {
            (matches!(p(2), 34 | 37) && n == 15)
                || ((300..=305).contains(&p(3)) || matches!(p(2), 36 | 38 | 39))
                    && (14..=19).contains(&n)
                || (3528..=3589).contains(&p(4)) && (16..=19).contains(&n)
        }
        b'6' => {
            (p(4) == 6011 || (644..=649).contains(&p(3)) || p(2) == 65 || p(2) == 62)
                && (16..=19).contains(&n)
        }
        _ => false,
    }
}

fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, c) in d.iter().rev().enumerate() {
        let mut v = u32::from(c - b'0');
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

fn grouping_fits(groups: &[usize]) -> bool {
    matches!(
        groups,
        [4, 4, 4, 4] | [4, 4, 4, 4, 3] | [4, 6, 5] | [4, 6, 4] | [4, 4, 4, 1..=4]
    )
}

fn card(view: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < view.len() {
        if !view[i].is_ascii_digit()
            || (i > 0 && (is_word_byte(view[i - 1]) || b".+-".contains(&view[i - 1])))
        {
            i += 1;
            continue;
        }
        // Digits with at most one kind of single separator between groups.
        let start = i;
        let mut digits = Vec::with_capacity(19);
        let mut groups = Vec::new();
        let mut sep: Option<u8> = None;
        let mut run = 0;
        let mut j = i;
        while j < view.len() && digits.len() <= 19 {
            let b = view[j];
            if b.is_ascii_digit() {
                digits.push(b);
                run += 1;
                j += 1;
            } else if (b == b' ' || b == b'-')
                && run > 0
                && sep.is_none_or(|s| s == b)
                && view.get(j + 1).is_some_and(u8::is_ascii_digit)
            {
                sep = Some(b);
                groups.push(run);
                run = 0;
                j += 1;
            } else {
                break;
            }
        }
        groups.push(run);
        let end = j;
        let bounded = end >= view.len()
            || !(is_word_byte(view[end])
                || (view[end] == b'.' && view.get(end + 1).is_some_and(u8::is_ascii_digit)));
        if bounded && (13..=19).contains(&digits.len()) && brand_fits(&digits) && luhn(&digits) {
            let grouped = sep.is_some() && grouping_fits(&groups);
            let plain = sep.is_none() && {
                let ctx = before(view, start, 48);
                CARD_KEYWORDS
                    .iter()
                    .any(|k| memchr::memmem::find(&ctx, k).is_some())
            };
            // No exemption for published test numbers or dull digits: the
            // proxy cannot tell a test number from a real one by context
            // the agent writes (the egress profile is context-free).
            if grouped || plain {
                return Some(digits);
            }
        }
        i = end.max(i + 1);
    }
    None
}

// ---- IBAN ----------------------------------------------------------------

fn iban_length(cc: &[u8]) -> Option<usize> {
    const T: &[(&[u8; 2], usize)] = &[
        (b"AD", 24),
        (b"AE", 23),
        (b"AL", 28),
        (b"AT", 20),
        (b"AZ", 28),
        (b"BA", 20),
        (b"BE", 16),
        (b"BG", 22),
        (b"BH", 22),
        (b"BR", 29),
        (b"BY", 28),
        (b"CH", 21),
        (b"CR", 22),
        (b"CY", 28),
        (b"CZ", 24),
        (b"DE", 22),
        (b"DK", 18),
        (b"DO", 28),
        (b"EE", 20),
        (b"EG", 29),
        (b"ES", 24),
        (b"FI", 18),
        (b"FO", 18),
        (b"FR", 27),
        (b"GB", 22),
        (b"GE", 22),
        (b"GI", 23),
        (b"GL", 18),
        (b"GR", 27),
        (b"GT", 28),
        (b"HR", 21),
        (b"HU", 28),
        (b"IE", 22),
        (b"IL", 23),
        (b"IQ", 23),
        (b"IS", 26),
        (b"IT", 27),
        (b"JO", 30),
        (b"KW", 30),
        (b"KZ", 20),
        (b"LB", 28),
        (b"LC", 32),
        (b"LI", 21),
        (b"LT", 20),
        (b"LU", 20),
        (b"LV", 21),
        (b"LY", 25),
        (b"MC", 27),
        (b"MD", 24),
        (b"ME", 22),
        (b"MK", 19),
        (b"MR", 27),
        (b"MT", 31),
        (b"MU", 30),
        (b"NL", 18),
        (b"NO", 15),
        (b"PK", 24),
        (b"PL", 28),
        (b"PS", 29),
        (b"PT", 25),
        (b"QA", 29),
        (b"RO", 24),
        (b"RS", 22),
        (b"SA", 24),
        (b"SC", 31),
        (b"SD", 18),
        (b"SE", 24),
        (b"SI", 19),
        (b"SK", 24),
        (b"SM", 27),
        (b"ST", 25),
        (b"SV", 28),
        (b"TL", 23),
        (b"TN", 24),
        (b"TR", 26),
        (b"UA", 29),
        (b"VA", 22),
        (b"VG", 24),
        (b"XK", 20),
    ];
    T.iter().find(|(c, _)| c.as_slice() == cc).map(|(_, n)| *n)
}

fn mod97(iban: &[u8]) -> bool {
    let mut r = 0u32;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        match b {
            b'0'..=b'9' => r = (r * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => r = (r * 100 + u32::from(b - b'A' + 10)) % 97,
            _ => return false,
        }
    }
    r == 1
}

fn iban(view: &[u8]) -> Option<Vec<u8>> {
    let upper_alnum = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit();
    let mut i = 0;
    while i + 15 <= view.len() {
        let ok_start = view[i].is_ascii_uppercase()
            && view[i + 1].is_ascii_uppercase()
            && view[i + 2].is_ascii_digit()
            && view[i + 3].is_ascii_digit()
            && (i == 0 || !view[i - 1].is_ascii_alphanumeric());
        let Some(len) = ok_start.then(|| iban_length(&view[i..i + 2])).flatten() else {
            i += 1;
            continue;
        };
        // Contiguous, or in groups of four separated by one space.
        let mut compact = Vec::with_capacity(len);
        let mut j = i;
        let mut spaced = None;
        while j < view.len() && compact.len() < len {
            let b = view[j];
            if upper_alnum(b) {
                compact.push(b);
                j += 1;
            } else if b == b' ' && compact.len() % 4 == 0 && spaced != Some(false) {
                if !compact.is_empty() && spaced.is_none() {
                    spaced = Some(compact.len() == 4);
                }
                if spaced != Some(true) {
                    break;
                }
                j += 1;
            } else {
                break;
            }
            if compact.len() == 4
                && spaced.is_none()
                && view.get(j).is_some_and(|b| upper_alnum(*b))
            {
                spaced = Some(false);
            }
        }
        let bounded = j >= view.len() || !view[j].is_ascii_alphanumeric();
        // Documentation examples block too: context-free, as above.
        if compact.len() == len && bounded && mod97(&compact) {
            return Some(compact);
        }
        i += 1;
    }
    None
}

// ---- US Social Security and bank routing numbers --------------------------

/// Whether lower-case `ctx` holds `word` with no ASCII letter either side
/// (`user_ssn`, `ssn:` and `SSN#` hold `ssn`; `classname` does not).
fn has_word(ctx: &[u8], word: &[u8]) -> bool {
    memchr::memmem::find_iter(ctx, word).any(|at| {
        (at == 0 || !ctx[at - 1].is_ascii_alphabetic())
            && ctx
                .get(at + word.len())
                .is_none_or(|b| !b.is_ascii_alphabetic())
    })
}

/// `ctx` (lower case) with letters and digits only
/// (`social_security_number` and `Social Security` both read
/// `socialsecuritynumber`/`socialsecurity`).
fn squashed(ctx: &[u8]) -> Vec<u8> {
    ctx.iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect()
}

fn number(d: &[u8]) -> u32 {
    d.iter().fold(0, |a, c| a * 10 + u32::from(c - b'0'))
}

/// A number may start at `i`: a digit not inside a word or a longer number
/// (`v2`, `x_1`, `4.123`, `12-345`).
fn starts_number(view: &[u8], i: usize) -> bool {
    view[i].is_ascii_digit()
        && (i == 0
            || !(is_word_byte(view[i - 1])
                || view[i - 1] == b'+'
                || (b"-./".contains(&view[i - 1]) && i >= 2 && view[i - 2].is_ascii_digit())))
}

/// A number may end at `end`: not inside a word or a longer number.
fn ends_number(view: &[u8], end: usize) -> bool {
    end >= view.len()
        || !(is_word_byte(view[end])
            || (b"-./".contains(&view[end]) && view.get(end + 1).is_some_and(u8::is_ascii_digit)))
}

/// Digit groups from one start: their lengths, the digits and where they
/// end. Fixed-size (no allocation): it runs at every number in a payload.
struct Groups {
    lens: [usize; 21],
    n: usize,
    digits: [u8; 20],
    nd: usize,
    end: usize,
}

impl Groups {
    fn lens(&self) -> &[usize] {
        &self.lens[..self.n]
    }

    fn digits(&self) -> &[u8] {
        &self.digits[..self.nd]
    }
}

/// Digit groups from `i` separated by single `sep` bytes (at most 20
/// digits are read).
fn groups_at(view: &[u8], i: usize, sep: Option<u8>) -> Groups {
    let mut g = Groups {
        lens: [0; 21],
        n: 0,
        digits: [0; 20],
        nd: 0,
        end: i,
    };
    let mut run = 0;
    let mut j = i;
    while j < view.len() && g.nd < 20 {
        if view[j].is_ascii_digit() {
            g.digits[g.nd] = view[j];
            g.nd += 1;
            run += 1;
            j += 1;
        } else if Some(view[j]) == sep && run > 0 && view.get(j + 1).is_some_and(u8::is_ascii_digit)
        {
            g.lens[g.n] = run;
            g.n += 1;
            run = 0;
            j += 1;
        } else {
            break;
        }
    }
    g.lens[g.n] = run;
    g.n += 1;
    g.end = j;
    g
}

/// Area 001–899 but not 666, group not 00, serial not 0000 (the SSA's
/// rules since 2011; numbers from before follow them too).
fn ssn_valid(d: &[u8]) -> bool {
    let area = number(&d[..3]);
    area != 0 && area != 666 && area < 900 && number(&d[3..5]) != 0 && number(&d[5..]) != 0
}

fn ssn_keyword_before(view: &[u8], at: usize) -> bool {
    let ctx = before(view, at, 48);
    let sq = squashed(&ctx);
    has_word(&ctx, b"ssn")
        || memchr::memmem::find(&sq, b"socialsecurity").is_some()
        || memchr::memmem::find(&sq, b"socsec").is_some()
}

fn ssn(view: &[u8]) -> Option<Vec<u8>> {
    for i in 0..view.len() {
        if !starts_number(view, i) {
            continue;
        }
        // `123-45-6789` anywhere; `123 45 6789`, `123.45.6789` and nine bare
        // digits only after an SSN keyword.
        for sep in [b'-', b' ', b'.'] {
            let g = groups_at(view, i, Some(sep));
            let bare = g.lens() == [9];
            if (g.lens() == [3, 2, 4] || bare)
                && ends_number(view, g.end)
                && ssn_valid(g.digits())
                && ((sep == b'-' && !bare) || ssn_keyword_before(view, i))
            {
                return Some(g.digits().to_vec());
            }
            if bare {
                break;
            }
        }
    }
    None
}

/// An ABA routing number's checksum (weights 3, 7, 1, mod 10) and a
/// leading pair the Federal Reserve assigns (01–12, 21–32, 61–72, 80).
fn aba_valid(d: &[u8]) -> bool {
    let lead = number(&d[..2]);
    aba_sum(d).is_multiple_of(10) && (matches!(lead, 1..=12 | 21..=32 | 61..=72) || lead == 80)
}

/// The ABA weighted digit sum (weights 3, 7, 1 repeating).
fn aba_sum(d: &[u8]) -> u32 {
    d.iter()
        .zip([3, 7, 1].iter().cycle())
        .map(|(c, w)| u32::from(c - b'0') * w)
        .sum()
}

fn routing_keyword_before(view: &[u8], at: usize) -> bool {
    let ctx = before(view, at, 48);
    let sq = squashed(&ctx);
    has_word(&ctx, b"aba")
        || has_word(&ctx, b"rtn")
        || [
            &b"routing"[..],
            b"abanum",
            b"abano",
            b"rtnnum",
            b"transitnum",
        ]
        .iter()
        .any(|k| memchr::memmem::find(&sq, k).is_some())
}

fn bank_routing(view: &[u8]) -> Option<Vec<u8>> {
    for i in 0..view.len() {
        if !starts_number(view, i) {
            continue;
        }
        let g = groups_at(view, i, None);
        if g.lens() == [9]
            && ends_number(view, g.end)
            && aba_valid(g.digits())
            && routing_keyword_before(view, i)
        {
            return Some(g.digits().to_vec());
        }
    }
    None
}

// ---- base58check: WIF keys and addresses -------------------------------

const B58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn b58_value(b: u8) -> Option<u8> {
    B58.iter().position(|c| *c == b).map(|p| p as u8)
}

fn base58_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(40);
    for &c in s {
        let mut carry = u32::from(b58_value(c)?);
        for byte in out.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.iter().take_while(|c| **c == b'1').count();
    let mut v = vec![0u8; zeros];
    v.extend(out);
    Some(v)
}

fn check_ok(raw: &[u8]) -> bool {
    if raw.len() < 5 {
        return false;
    }
    let (payload, sum) = raw.split_at(raw.len() - 4);
    let h = Sha256::digest(Sha256::digest(payload));
    &h[..4] == sum
}

/// Base58 runs: a WIF key (`true`) or an address (`false`).
fn base58(view: &[u8], keys: bool, addresses: bool) -> Option<(bool, Vec<u8>)> {
    let mut i = 0;
    while i < view.len() {
        if b58_value(view[i]).is_none() || (i > 0 && is_word_byte(view[i - 1])) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < view.len() && b58_value(view[j]).is_some() {
            j += 1;
        }
        let run = &view[i..j];
        let bounded = j >= view.len() || !is_word_byte(view[j]);
        if bounded {
            let n = run.len();
            if keys
                && matches!((run[0], n), (b'5' | b'9', 51) | (b'K' | b'L' | b'c', 52))
                && let Some(raw) = base58_decode(run)
                && check_ok(&raw)
                && matches!(raw[0], 0x80 | 0xef)
                && (raw.len() == 37 || (raw.len() == 38 && raw[33] == 0x01))
            {
                return Some((true, run.to_vec()));
            }
            if addresses
                && (26..=35).contains(&n)
                && b"13mn2LMD".contains(&run[0])
                && let Some(raw) = base58_decode(run)
                && raw.len() == 25
                && matches!(
                    raw[0],
                    0x00 | 0x05 | 0x6f | 0xc4 | 0x30 | 0x32 | 0x1e | 0x16
                )
                && check_ok(&raw)
            {
                return Some((false, run.to_vec()));
            }
        }
        i = j.max(i + 1);
    }
    None
}

// ---- bech32 ----------------------------------------------------------------

const BECH32: &[u8] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

fn polymod(values: impl Iterator<Item = u8>) -> u32 {
    const GEN: [u32; 5] = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];
    let mut chk: u32 = 1;
    for v in values {
        let top = chk >> 25;
        chk = ((chk & 0x1ffffff) << 5) ^ u32::from(v);
        for (i, g) in GEN.iter().enumerate() {
            if (top >> i) & 1 == 1 {
                chk ^= g;
            }
        }
    }
    chk
}

fn bech32_address(view: &[u8]) -> Option<Vec<u8>> {
    let lower = view.to_ascii_lowercase();
    for hrp in [&b"bc1"[..], b"tb1", b"ltc1", b"bcrt1"] {
        for at in memchr::memmem::find_iter(&lower, hrp) {
            if at > 0 && lower[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let data_start = at + hrp.len();
            let mut end = data_start;
            while end < lower.len() && BECH32.contains(&lower[end]) {
                end += 1;
            }
            if end < lower.len() && lower[end].is_ascii_alphanumeric() {
                continue;
            }
            let raw = &view[at..end];
            let mixed =
                raw.iter().any(u8::is_ascii_lowercase) && raw.iter().any(u8::is_ascii_uppercase);
            let data: Vec<u8> = lower[data_start..end]
                .iter()
                .filter_map(|c| BECH32.iter().position(|x| x == c).map(|p| p as u8))
                .collect();
            // Witness version, a 20- or 32-byte program (v0) or 2–40 bytes,
            // and the 6-character checksum.
            if mixed || !(39..=90).contains(&(end - at)) || data.len() < 7 {
                continue;
            }
            let h = &hrp[..hrp.len() - 1];
            let expanded = h
                .iter()
                .map(|c| c >> 5)
                .chain(std::iter::once(0))
                .chain(h.iter().map(|c| c & 31))
                .chain(data.iter().copied());
            let pm = polymod(expanded);
            let version = data[0];
            let prog_bits = (data.len() - 7) * 5;
            let prog_len = prog_bits / 8;
            let ok = match (pm, version) {
                (1, 0) => prog_len == 20 || prog_len == 32,
                (0x2bc830a3, 1..=16) => (2..=40).contains(&prog_len),
                _ => false,
            };
            if ok {
                return Some(lower[at..end].to_vec());
            }
        }
    }
    None
}

// ---- Ethereum addresses (EIP-55) ------------------------------------------

/// Whole words (lower case, letters and digits) that name an address. A
/// word containing `addr` or `wallet` counts too (`toAddress`, `eth_addr`).
const ETH_WORDS: &[&[u8]] = &[
    b"eth",
    b"ether",
    b"ethereum",
    b"erc20",
    b"web3",
    b"etherscan",
    b"metamask",
    b"account",
    b"recipient",
    b"payee",
    b"beneficiary",
];

fn eth_keyword_before(view: &[u8], at: usize) -> bool {
    let ctx = before(view, at, 48);
    ctx.split(|b| !b.is_ascii_alphanumeric()).any(|w| {
        ETH_WORDS.contains(&w)
            || memchr::memmem::find(w, b"addr").is_some()
            || memchr::memmem::find(w, b"wallet").is_some()
    })
}

/// EIP-55: letter `i` is upper case exactly when nibble `i` of the
/// Keccak-256 of the lower-case hex is 8 or more.
fn eip55_ok(hex40: &[u8]) -> bool {
    let h = crate::keccak::keccak256(&hex40.to_ascii_lowercase());
    hex40.iter().enumerate().all(|(i, c)| {
        let nibble = (h[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
        !c.is_ascii_alphabetic() || c.is_ascii_uppercase() == (nibble >= 8)
    })
}

fn eth_address(view: &[u8]) -> Option<Vec<u8>> {
    for at in memchr::memmem::find_iter(view, b"0x") {
        if at > 0 && is_word_byte(view[at - 1]) {
            continue;
        }
        let s = at + 2;
        let Some(run) = view.get(s..s + 40) else {
            break;
        };
        if !run.iter().all(u8::is_ascii_hexdigit)
            || view.get(s + 40).is_some_and(|b| is_word_byte(*b))
        {
            continue;
        }
        let mut seen = [false; 16];
        run.iter().for_each(|c| {
            seen[(*c as char).to_digit(16).unwrap_or(0) as usize] = true;
        });
        if seen.iter().filter(|x| **x).count() < 10 {
            continue;
        }
        let mixed =
            run.iter().any(u8::is_ascii_lowercase) && run.iter().any(u8::is_ascii_uppercase);
        let hit = if mixed {
            eip55_ok(run)
        } else {
            eth_keyword_before(view, at)
        };
        if hit {
            let mut v = b"0x".to_vec();
            v.extend(run.to_ascii_lowercase());
            return Some(v);
        }
    }
    None
}

// ---- BIP-39 seed phrases -------------------------------------------------

fn wordlist() -> &'static HashMap<&'static [u8], u16> {
    static W: OnceLock<HashMap<&'static [u8], u16>> = OnceLock::new();
    W.get_or_init(|| {
        include_str!("bip39-english.txt")
            .lines()
            .enumerate()
            .map(|(i, w)| (w.as_bytes(), i as u16))
            .collect()
    })
}

fn seed_checksum_ok(idx: &[u16]) -> bool {
    let bits = idx.len() * 11;
    let cs = bits / 33;
    let ent = bits - cs;
    let mut bytes = vec![0u8; ent / 8];
    let bit = |k: usize| (idx[k / 11] >> (10 - k % 11)) & 1 == 1;
    for k in 0..ent {
        if bit(k) {
            bytes[k / 8] |= 0x80 >> (k % 8);
        }
    }
    let h = Sha256::digest(&bytes);
    (0..cs).all(|k| bit(ent + k) == ((h[k / 8] >> (7 - k % 8)) & 1 == 1))
}

fn seed_phrase(view: &[u8]) -> Option<Vec<u8>> {
    let words = wordlist();
    // Runs of list words separated only by spaces, newlines, commas,
    // quotes, brackets or list numbers ("1. abandon 2. ability").
    let mut run: Vec<(u16, usize, usize)> = Vec::new();
    let mut i = 0;
    let check = |run: &[(u16, usize, usize)]| -> Option<Vec<u8>> {
        for n in [24usize, 21, 18, 15, 12] {
            if run.len() < n {
                continue;
            }
            for s in 0..=run.len() - n {
                let idx: Vec<u16> = run[s..s + n].iter().map(|w| w.0).collect();
                if seed_checksum_ok(&idx) {
                    let mut v = Vec::new();
                    for (k, w) in run[s..s + n].iter().enumerate() {
                        if k > 0 {
                            v.push(b' ');
                        }
                        v.extend(view[w.1..w.2].to_ascii_lowercase());
                    }
                    return Some(v);
                }
            }
        }
        None
    };
    while i < view.len() {
        if !view[i].is_ascii_alphabetic() {
            let separator = view[i].is_ascii_whitespace()
                || b",\"'[]().;:-".contains(&view[i])
                || view[i].is_ascii_digit();
            if !separator && !run.is_empty() {
                if run.len() >= 12
                    && let Some(v) = check(&run)
                {
                    return Some(v);
                }
                run.clear();
            }
            i += 1;
            continue;
        }
        let s = i;
        while i < view.len() && view[i].is_ascii_alphabetic() {
            i += 1;
        }
        let w = view[s..i].to_ascii_lowercase();
        match words.get(w.as_slice()) {
            Some(&ix) if w.len() >= 3 => run.push((ix, s, i)),
            _ => {
                if run.len() >= 12
                    && let Some(v) = check(&run)
                {
                    return Some(v);
                }
                run.clear();
            }
        }
        if run.len() > 48 {
            if let Some(v) = check(&run) {
                return Some(v);
            }
            run.drain(..24);
        }
    }
    if run.len() >= 12 {
        return check(&run);
    }
    None
}

// ---- hex private keys by keyword ---------------------------------------

const KEY_KEYWORDS: &[&[u8]] = &[
    b"privatekey",
    b"privkey",
    b"secretkey",
    b"signingkey",
    b"walletkey",
    b"keypriv",
    b"pkey",
    b"ethkey",
    b"seckey",
];

/// Short names a private key goes by as a parameter or field (`pk`,
/// `priv`, `prv`), whole or as a part of the name (`eth_pk`, `priv-key`).
const SHORT_KEY_NAMES: &[&[u8]] = &[b"pk", b"priv", b"prv", b"privk", b"pvk", b"privkey"];

/// Whether the value at `i` is assigned to a name with a short key name
/// part: `pk=`, `"pk": "`, `wallet_pk: 0x`. A digest's name (`sha256=`,
/// `etag`, `id=`) is not one.
fn short_key_name_before(view: &[u8], mut i: usize) -> bool {
    if i >= 2 && view[i - 2..i].eq_ignore_ascii_case(b"0x") {
        i -= 2;
    }
    let mut assigned = false;
    let mut n = 0;
    while i > 0 && n < 4 && b"\"' =:".contains(&view[i - 1]) {
        assigned |= matches!(view[i - 1], b'=' | b':');
        i -= 1;
        n += 1;
    }
    let end = i;
    while i > 0 && (is_word_byte(view[i - 1]) || view[i - 1] == b'-') && end - i < 32 {
        i -= 1;
    }
    if !assigned || i == end || (i > 0 && is_word_byte(view[i - 1])) {
        return false;
    }
    view[i..end]
        .to_ascii_lowercase()
        .split(|b| matches!(b, b'_' | b'-'))
        .any(|part| SHORT_KEY_NAMES.contains(&part))
}

fn hex_private_key(view: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < view.len() {
        if !view[i].is_ascii_hexdigit()
            || (i > 0 && is_word_byte(view[i - 1]) && !(i >= 2 && &view[i - 2..i] == b"0x"))
        {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < view.len() && view[j].is_ascii_hexdigit() {
            j += 1;
        }
        if j - i == 64 && (j >= view.len() || !is_word_byte(view[j])) {
            let run = &view[i..j];
            let mut distinct = [false; 16];
            for c in run {
                let v = (*c as char).to_digit(16).unwrap_or(0) as usize;
                distinct[v] = true;
            }
            let ctx: Vec<u8> = before(view, i, 48)
                .into_iter()
                .filter(|b| b.is_ascii_alphanumeric())
                .collect();
            if distinct.iter().filter(|x| **x).count() >= 10
                && (KEY_KEYWORDS
                    .iter()
                    .any(|k| memchr::memmem::find(&ctx, k).is_some())
                    || short_key_name_before(view, i))
            {
                return Some(run.to_ascii_lowercase());
            }
        }
        i = j.max(i + 1);
    }
    None
}

// ---- tokens inside WebSocket messages ------------------------------------

fn b64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A JWT (`header.payload.signature`, the header base64url of a JSON
/// object naming `alg` or `typ`) or a `Bearer <token>` value: inside a
/// WebSocket message, where no authentication belongs (the upgrade request
/// carries it, and is scanned as headers). A value for which `issued`
/// answers true (the upstream sent it down this connection first) is not
/// a hit.
pub(crate) fn message_token(view: &[u8], issued: impl Fn(&[u8]) -> bool) -> Option<PiiHit> {
    use base64::Engine as _;
    let mut i = 0;
    while i < view.len() {
        if !b64url_byte(view[i]) || (i > 0 && b64url_byte(view[i - 1])) {
            i += 1;
            continue;
        }
        let mut segs = [(0usize, 0usize); 3];
        let mut j = i;
        let mut n = 0;
        while n < 3 {
            let s = j;
            while j < view.len() && b64url_byte(view[j]) {
                j += 1;
            }
            segs[n] = (s, j);
            n += 1;
            if n < 3 && view.get(j) == Some(&b'.') {
                j += 1;
            } else {
                break;
            }
        }
        if n == 3 && segs[0].1 - segs[0].0 >= 10 && segs[1].1 - segs[1].0 >= 10 {
            let head = &view[segs[0].0..segs[0].1];
            if let Ok(h) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(head) {
                let h = String::from_utf8_lossy(&h);
                if h.trim_start().starts_with('{')
                    && (h.contains("\"alg\"") || h.contains("\"typ\""))
                    && !issued(&view[i..segs[2].1])
                {
                    return Some(PiiHit {
                        rule: rule::JWT,
                        value: view[i..segs[2].1].to_vec(),
                    });
                }
            }
        }
        i = segs[0].1.max(i + 1);
    }
    let lower = view.to_ascii_lowercase();
    for at in memchr::memmem::find_iter(&lower, b"bearer") {
        if at > 0 && lower[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        let mut j = at + 6;
        let ws = j;
        while j < view.len() && (view[j] == b' ' || view[j] == b'\t') {
            j += 1;
        }
        if j == ws {
            continue;
        }
        let s = j;
        while j < view.len() && (view[j].is_ascii_alphanumeric() || b"-._~+/=".contains(&view[j])) {
            j += 1;
        }
        let tok = &view[s..j];
        let classes = [
            tok.iter().any(u8::is_ascii_lowercase),
            tok.iter().any(u8::is_ascii_uppercase),
            tok.iter().any(u8::is_ascii_digit),
        ];
        if tok.len() >= 16
            && classes.iter().filter(|c| **c).count() >= 2
            && distinct(tok) >= 10
            && !issued(tok)
        {
            return Some(PiiHit {
                rule: rule::BEARER_TOKEN,
                value: tok.to_vec(),
            });
        }
    }
    None
}

fn distinct(s: &[u8]) -> usize {
    let mut seen = [false; 256];
    s.iter().for_each(|b| seen[usize::from(*b)] = true);
    seen.iter().filter(|x| **x).count()
}

#[doc(hidden)]
pub mod samples {
    //! True samples made at run time (no card, IBAN or key literal in the
    //! repository), for this crate's tests and its suite.
    use super::*;

    /// A DNS-over-HTTPS GET parameter (RFC 8484 `dns=`): a query message
    /// for the name `labels`, type A, base64url without padding.
    pub fn doh_query(labels: &[&str]) -> String {
        use base64::Engine as _;
        let mut m = vec![0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in labels {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(m)
    }

    /// A Luhn-valid number: `prefix` and digits from `seed`, completed
    /// with its check digit, `len` digits in all.
    pub fn card(prefix: &str, len: usize, seed: u64) -> String {
        let mut d: Vec<u8> = prefix.bytes().collect();
        let mut x = seed;
        while d.len() < len - 1 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            d.push(b'0' + ((x >> 33) % 10) as u8);
        }
        for c in b'0'..=b'9' {
            d.push(c);
            if luhn(&d) {
                break;
            }
            d.pop();
        }
        String::from_utf8_lossy(&d).into_owned()
    }

    /// A valid IBAN for a country and a BBAN of the country's length.
    pub fn iban(cc: &str, bban: &str) -> String {
        let mut s = format!("{cc}00{bban}").into_bytes();
        for check in 2..=98u8 {
            s[2] = b'0' + check / 10;
            s[3] = b'0' + check % 10;
            if mod97(&s) {
                break;
            }
        }
        String::from_utf8_lossy(&s).into_owned()
    }

    /// Base58check of a payload (version byte first).
    pub fn base58check(payload: &[u8]) -> String {
        let mut raw = payload.to_vec();
        let h = Sha256::digest(Sha256::digest(payload));
        raw.extend_from_slice(&h[..4]);
        let zeros = raw.iter().take_while(|b| **b == 0).count();
        let mut digits: Vec<u8> = Vec::new();
        for &b in &raw {
            let mut carry = u32::from(b);
            for d in digits.iter_mut() {
                carry += u32::from(*d) << 8;
                *d = (carry % 58) as u8;
                carry /= 58;
            }
            while carry > 0 {
                digits.push((carry % 58) as u8);
                carry /= 58;
            }
        }
        let mut s: Vec<u8> = vec![b'1'; zeros];
        s.extend(digits.iter().rev().map(|d| B58[usize::from(*d)]));
        String::from_utf8_lossy(&s).into_owned()
    }

    /// A seed phrase of `n` words with a valid checksum.
    pub fn seed(n: usize, seed: u64) -> String {
        let list: Vec<&str> = include_str!("bip39-english.txt").lines().collect();
        let mut x = seed;
        loop {
            let idx: Vec<u16> = (0..n)
                .map(|_| {
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((x >> 33) % 2048) as u16
                })
                .collect();
            if seed_checksum_ok(&idx) {
                return idx
                    .iter()
                    .map(|i| list[usize::from(*i)])
                    .collect::<Vec<_>>()
                    .join(" ");
            }
        }
    }

    /// The EIP-55 (checksummed, mixed-case) form of a 20-byte Ethereum
    /// address given as 40 hex digits, with its `0x`.
    pub fn eip55(hex40: &str) -> String {
        let lower = hex40.to_ascii_lowercase();
        let h = crate::keccak::keccak256(lower.as_bytes());
        let body: String = lower
            .chars()
            .enumerate()
            .map(|(i, c)| {
                let nibble = (h[i / 2] >> if i % 2 == 0 { 4 } else { 0 }) & 0x0f;
                if nibble >= 8 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect();
        format!("0x{body}")
    }

    /// A US Social Security number, dashed (`AAA-GG-SSSS`).
    pub fn ssn(area: u16, group: u8, serial: u16) -> String {
        format!("{area:03}-{group:02}-{serial:04}")
    }

    /// An ABA routing number: eight digits and the 3-7-1 check digit.
    pub fn aba(first8: &str) -> String {
        let mut d: Vec<u8> = first8.bytes().collect();
        for c in b'0'..=b'9' {
            d.push(c);
            if aba_sum(&d).is_multiple_of(10) {
                break;
            }
            d.pop();
        }
        String::from_utf8_lossy(&d).into_owned()
    }

    /// A bech32 (v0) address for a 20-byte program.
    pub fn bech32(hrp: &str, program: &[u8]) -> String {
        let mut data = vec![0u8];
        let mut acc = 0u32;
        let mut bits = 0;
        for &b in program {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                data.push(((acc >> bits) & 31) as u8);
            }
        }
        if bits > 0 {
            data.push(((acc << (5 - bits)) & 31) as u8);
        }
        let h = hrp.as_bytes();
        let values: Vec<u8> = h
            .iter()
            .map(|c| c >> 5)
            .chain(std::iter::once(0))
            .chain(h.iter().map(|c| c & 31))
            .chain(data.iter().copied())
            .chain([0u8; 6])
            .collect();
        let pm = polymod(values.into_iter()) ^ 1;
        for k in 0..6 {
            data.push(((pm >> (5 * (5 - k))) & 31) as u8);
        }
        let mut s = format!("{hrp}1");
        s.extend(data.iter().map(|d| BECH32[usize::from(*d)] as char));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::samples as sm;
    use super::samples::{base58check, bech32, seed};
    use super::*;

    fn all() -> DlpData {
        DlpData::default()
    }

    fn rule_of(text: &str) -> Option<&'static str> {
        scan(&all(), text.as_bytes()).map(|h| h.rule)
    }

    fn group4(s: &str, sep: char) -> String {
        s.as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(&sep.to_string())
    }

    #[test]
    fn card_numbers_need_luhn_and_grouping_or_a_keyword() {
        let visa = sm::card("4", 16, 7);
        let mc = sm::card("53", 16, 9);
        let amex = sm::card("37", 15, 3);
        for t in [
            group4(&visa, ' '),
            group4(&mc, '-'),
            format!("{} {} {}", &amex[..4], &amex[4..10], &amex[10..]),
            format!("{{\"card_number\": \"{visa}\"}}"),
            format!("cc={mc}&exp=12/29"),
            // Published test numbers and dull digits are cards too.
            "card: 4242 4242 4242 4242".to_string(),
            "{\"card\": \"4111111111111111\"}".to_string(),
            "{\"card_number\":\"5500000000000004\"}".to_string(),
        ] {
            assert_eq!(rule_of(&t), Some(rule::CARD_NUMBER), "{t}");
        }
        // Benign twins: the same number bare in code, a non-Luhn grouped
        // number, test numbers without a keyword or grouping, ids and
        // timestamps.
        let mut bad = visa.clone().into_bytes();
        bad[15] = b'0' + (bad[15] - b'0' + 1) % 10;
        let bad = String::from_utf8(bad).unwrap();
        for t in [
            format!("{{\"id\": {visa}, \"ts\": 1733112000000000000}}"),
            group4(&bad, ' '),
            "let n = 4242424242424242;".to_string(),
            "{\"id\": \"4111111111111111\"}".to_string(),
            format!("version {visa}.1"),
            format!("x = 0.{visa}"),
            format!("{{\"id\": \"{}\"}}", sm::card("1", 16, 5)),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
    }

    #[test]
    fn ibans_need_the_country_length_and_mod_97() {
        let de = sm::iban("DE", "500105175407324931");
        let gb = sm::iban("GB", "NWBK60161331926811");
        for t in [
            format!("IBAN: {de}"),
            format!("pay to {}", group4(&gb, ' ')),
            format!("{{\"iban\":\"{de}\"}}"),
            // A documentation example is an IBAN too.
            "DE89370400440532013000".to_string(),
            "collect?iban=GB82WEST12345698765432".to_string(),
        ] {
            assert_eq!(rule_of(&t), Some(rule::IBAN), "{t}");
        }
        let mut wrong = de.clone().into_bytes();
        wrong[10] = if wrong[10] == b'9' { b'8' } else { b'9' };
        for t in [
            String::from_utf8(wrong).unwrap(),
            format!("{de}0"),
            "DE89370400440532013001".to_string(),
            "ID: AB12CDEFGHIJKLMNOP".to_string(),
            de.to_ascii_lowercase(),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
    }

    #[test]
    fn wallet_keys_and_addresses_need_their_checksums() {
        let mut payload = vec![0x80];
        payload.extend((0..32u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
        let wif_u = base58check(&payload);
        payload.push(0x01);
        let wif_c = base58check(&payload);
        let mut a = vec![0x00];
        a.extend((0..20u8).map(|i| i.wrapping_mul(53).wrapping_add(7)));
        let p2pkh = base58check(&a);
        let segwit = bech32("bc", &a[1..]);
        assert_eq!(rule_of(&format!("wif {wif_u}")), Some(rule::CRYPTO_WIF_KEY));
        assert_eq!(rule_of(&format!("\"{wif_c}\"")), Some(rule::CRYPTO_WIF_KEY));
        assert_eq!(
            rule_of(&format!("send to {p2pkh}")),
            Some(rule::CRYPTO_ADDRESS)
        );
        assert_eq!(rule_of(&format!("to={segwit}")), Some(rule::CRYPTO_ADDRESS));
        let s = seed(12, 1);
        assert_eq!(
            rule_of(&format!("mnemonic: {s}")),
            Some(rule::CRYPTO_SEED_PHRASE)
        );
        let s24 = seed(24, 2);
        let listed: Vec<String> = s24
            .split(' ')
            .enumerate()
            .map(|(i, w)| format!("{}. {w}", i + 1))
            .collect();
        assert_eq!(rule_of(&listed.join("\n")), Some(rule::CRYPTO_SEED_PHRASE));
        let key: String = (0..32u8)
            .map(|i| format!("{:02x}", i.wrapping_mul(91).wrapping_add(5)))
            .collect();
        assert_eq!(
            rule_of(&format!("PRIVATE_KEY=0x{key}")),
            Some(rule::CRYPTO_PRIVATE_KEY)
        );
        // Benign twins: a broken checksum, hashes, prose of list words.
        let mut broken = p2pkh.clone().into_bytes();
        broken[10] = if broken[10] == b'z' { b'y' } else { b'z' };
        let sha = format!("sha256 = \"{key}\"");
        let commit = "commit 9fbdb1c0e0c1b5a3d9c9d5c8e4f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a";
        let mut words: Vec<&str> = s.split(' ').collect();
        words.swap(0, 1);
        for t in [
            String::from_utf8(broken).unwrap(),
            sha,
            commit.to_string(),
            "the quick brown fox jumps over the lazy dog again and again today".to_string(),
            "abandon abandon abandon ability able about above absent absorb abstract absurd abuse"
                .to_string(),
            "bc1qnotanaddressatallqqqqqqqqqqqqqqqqq".to_string(),
            format!("id {}", &wif_c[..40]),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
        // Each class is switched separately.
        let off = DlpData {
            crypto_keys: false,
            ..all()
        };
        assert!(scan(&off, format!("mnemonic: {s}").as_bytes()).is_none());
        assert!(scan(&off, p2pkh.as_bytes()).is_some());
    }

    #[test]
    fn social_security_numbers_need_the_dashed_shape_or_a_keyword() {
        let dashed = sm::ssn(123, 45, 6789);
        let bare = dashed.replace('-', "");
        let spaced = dashed.replace('-', " ");
        for t in [
            format!("{{\"ssn\": \"{dashed}\"}}"),
            format!("GET /lookup?id={dashed} HTTP/1.1"),
            format!("x-note: customer {dashed}"),
            format!("name,dob,ssn\nA,1970-01-01,{dashed}\n"),
            format!("in 2024 {dashed}."),
            format!("/records/{dashed}/view"),
            format!("{{\"ssn\":{bare}}}"),
            format!("{{\"SSN\": \"{spaced}\"}}"),
            format!("social_security_number={bare}"),
            format!("Social Security No: {bare}"),
            format!("user_ssn: {}", dashed.replace('-', ".")),
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(1, 1, 1)),
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(899, 99, 9999)),
        ] {
            assert_eq!(rule_of(&t), Some(rule::SSN), "{t}");
            let v = scan(&all(), t.as_bytes()).unwrap().value;
            assert_eq!(v.len(), 9, "{t}");
        }
        for t in [
            // Phone numbers, dates, ISBNs, versions, UUID pieces, order ids.
            "call 555-123-4567 or (555) 123-4567".to_string(),
            "date 2024-12-04, 04-12-2024".to_string(),
            "ISBN 978-3-16-148410-0, 0-306-40615-2".to_string(),
            "version 1.23.4567, v123-45-6789".to_string(),
            "id 123e4567-e89b-12d3-a456-426614174000".to_string(),
            "order ORD-2024-123-45-6789-1".to_string(),
            format!("part 7{dashed}"),
            format!("range 4-{dashed}"),
            format!("{dashed}-12"),
            // Invalid areas, groups and serials.
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(0, 45, 6789)),
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(666, 45, 6789)),
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(912, 45, 6789)),
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(123, 0, 6789)),
            format!("{{\"ssn\": \"{}\"}}", sm::ssn(123, 45, 0)),
            // Nine digits without a keyword; a keyword that is not one.
            format!("{{\"id\": {bare}, \"ts\": 1733112000}}"),
            format!("classname = {bare}"),
            format!("{{\"ssn\": {bare}0}}"),
            format!("ssn {spaced} 1"),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
        let off = DlpData {
            ssn: false,
            ..all()
        };
        assert!(scan(&off, format!("ssn={dashed}").as_bytes()).is_none());
    }

    #[test]
    fn bank_routing_numbers_need_the_checksum_and_a_keyword() {
        let rtn = sm::aba("02100002");
        assert!(aba_valid(rtn.as_bytes()), "{rtn}");
        for t in [
            format!("{{\"routing\": \"{rtn}\", \"account\": \"9876543210\"}}"),
            format!("routing_number={rtn}"),
            format!("{{\"bankRoutingNumber\":{rtn}}}"),
            format!("ABA: {rtn}"),
            format!("x-rtn: {rtn}"),
            format!("{{\"aba_number\":\"{}\"}}", sm::aba("32107800")),
            format!("routing {}", sm::aba("80000000")),
        ] {
            assert_eq!(rule_of(&t), Some(rule::BANK_ROUTING_NUMBER), "{t}");
        }
        let mut bad = rtn.clone().into_bytes();
        bad[8] = b'0' + (bad[8] - b'0' + 1) % 10;
        let bad = String::from_utf8(bad).unwrap();
        for t in [
            // The same digits without a keyword.
            format!("{{\"id\": {rtn}}}"),
            format!("the database has {rtn} rows"),
            // A keyword with a bad checksum, a leading pair not assigned,
            // a longer number.
            format!("routing_number={bad}"),
            format!("routing: {}", sm::aba("13000000")),
            format!("routing: {}", sm::aba("00000000")),
            format!("routing: {rtn}7"),
            format!("routing table 10.{rtn}"),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
        let off = DlpData {
            bank_routing: false,
            ..all()
        };
        assert!(scan(&off, format!("routing={rtn}").as_bytes()).is_none());
    }

    #[test]
    fn hex_private_keys_assigned_to_a_short_key_name_block() {
        let key: String = (0..32u8)
            .map(|i| format!("{:02x}", i.wrapping_mul(89).wrapping_add(7)))
            .collect();
        for t in [
            format!("/exfil?pk={key}"),
            format!("{{\"pk\": \"{key}\"}}"),
            format!("{{\"pk\":\"0x{key}\"}}"),
            format!("eth_pk: 0x{key}"),
            format!("priv={key}&x=1"),
            format!("x-prv: {key}"),
            format!("{{\"privkey\": \"{key}\"}}"),
        ] {
            assert_eq!(rule_of(&t), Some(rule::CRYPTO_PRIVATE_KEY), "{t}");
        }
        for t in [
            format!("/dl?sha256={key}"),
            format!("etag: \"{key}\""),
            format!("{{\"id\": \"{key}\"}}"),
            format!("/repos/o/r/commits/{key}"),
            format!("spk={key}"),
            format!("pk {key}"),
            format!("{{\"pkg\": \"{key}\"}}"),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
    }

    /// The EIP-55 spec's examples: four whose checksum makes them mixed
    /// case, two that come out all upper case and two all lower case.
    const EIP55_MIXED: &[&str] = &[
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ];
    const EIP55_ONE_CASE: &[&str] = &[
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
        "0xde709f2102306220921060314715629080e2fb77",
        "0x27b1fdb04752bbc536007a920d24acb045561c26",
    ];

    #[test]
    fn ethereum_addresses_need_the_eip55_checksum_or_a_keyword() {
        // The checksum function reproduces the spec's own examples.
        for a in EIP55_MIXED.iter().chain(EIP55_ONE_CASE) {
            assert_eq!(&sm::eip55(&a[2..]), a);
        }
        for a in EIP55_MIXED {
            for t in [
                a.to_string(),
                format!("send it to {a} today"),
                format!("{{\"to\":\"{a}\",\"value\":\"0x1\"}}"),
                format!("https://api.example.com/v1/tx?dst={a}&n=1"),
            ] {
                assert_eq!(rule_of(&t), Some(rule::CRYPTO_ETH_ADDRESS), "{t}");
            }
            let hit = scan(&all(), a.as_bytes()).unwrap();
            assert_eq!(hit.value, a.to_ascii_lowercase().into_bytes());
        }
        for a in EIP55_ONE_CASE {
            for t in [
                format!("my wallet: {a}"),
                format!("{{\"toAddress\": \"{a}\"}}"),
                format!("ETH {a}"),
                format!("recipient={a}"),
            ] {
                assert_eq!(rule_of(&t), Some(rule::CRYPTO_ETH_ADDRESS), "{t}");
            }
        }
        // Benign twins. A checksum off by one letter's case (still mixed).
        let mut off = EIP55_MIXED[0].as_bytes().to_vec();
        let k = off.iter().rposition(u8::is_ascii_lowercase).unwrap();
        off[k] = off[k].to_ascii_uppercase();
        let off = String::from_utf8(off).unwrap();
        assert!(off.bytes().any(|b| b.is_ascii_lowercase()));
        let sha1 = "9fbdb1c0e0c1b5a3d9c9d5c8e4f0a1b2c3d4e5f6";
        for t in [
            off.clone(),
            format!("wallet {}", &off[..41]),
            // A git SHA-1 with 0x, and 40-hex digests in URL paths.
            format!("commit 0x{sha1}"),
            format!("https://github.com/o/r/commit/{sha1}"),
            format!("https://cdn.example.com/objects/0x{sha1}/data"),
            format!(
                "https://cdn.example.com/objects/0x{}/data",
                sha1.to_ascii_uppercase()
            ),
            // One case without a keyword: no checksum to go by.
            format!("id = {}", EIP55_ONE_CASE[2]),
            format!("\"{}\"", EIP55_ONE_CASE[0]),
            // A keyword inside a longer word is not one (`method`, `Seth`).
            format!("method 0x{sha1}"),
            // Longer and shorter hex runs, the zero and burn addresses.
            format!("tx 0x{sha1}{sha1}"),
            format!("address 0x{}", &sha1[..39]),
            format!("{}ff", EIP55_MIXED[1]),
            format!("x{}", EIP55_MIXED[1]),
            "address(0) == 0x0000000000000000000000000000000000000000".to_string(),
            "burn address 0x000000000000000000000000000000000000dEaD".to_string(),
        ] {
            assert_eq!(rule_of(&t), None, "{t}");
        }
        let off = DlpData {
            crypto_addresses: false,
            ..all()
        };
        assert!(scan(&off, EIP55_MIXED[0].as_bytes()).is_none());
    }
}
