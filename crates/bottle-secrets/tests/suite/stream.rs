//! Streaming scans: matches across window boundaries, line numbers, and
//! memory that does not grow with input size.

use bottle_secrets::{Finding, SampleRng, Scanner, fingerprint, render_template};
use std::io::Read;

fn token(seed: u64) -> String {
    render_template("ghp_{x:36}", &mut SampleRng::new(seed)).text
}

fn pem(seed: u64) -> String {
    render_template(
        "-----BEGIN RSA PRIVATE KEY-----\n{b:64}\n{b:64}\n{b:64}\n{b:20}==\n-----END RSA PRIVATE KEY-----",
        &mut SampleRng::new(seed),
    )
    .text
}

fn stream_scan(scanner: &Scanner, data: &[u8], read_size: usize) -> Vec<Finding> {
    struct Slow<'a>(&'a [u8], usize);
    impl Read for Slow<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut out = Vec::new();
    scanner
        .scan_reader(Slow(data, read_size), Some("s.txt"), |f| out.push(f))
        .unwrap();
    out
}

#[test]
fn matches_near_window_boundaries_are_found_once_with_correct_lines() {
    let scanner = Scanner::builtin();
    let filler = "let value = compute(alpha, beta); // plain code line\n";
    let mut text = String::new();
    let mut planted: Vec<(usize, String, &str)> = Vec::new(); // (line, secret, rule)
    let mut seed = 0;
    for target in [
        (1usize << 20) - 300,
        2 << 20,
        (3 << 20) - 64 * 1024 - 40,
        (3 << 20) + 5,
        (4 << 20) - 2000,
    ] {
        while text.len() < target {
            text.push_str(filler);
        }
        seed += 1;
        let line = text.matches('\n').count() + 1;
        if seed % 2 == 0 {
            let p = pem(seed);
            planted.push((line, p.clone(), "private-key"));
            text.push_str(&p);
            text.push('\n');
        } else {
            let t = token(seed);
            planted.push((line, t.clone(), "github-pat"));
            text.push_str(&format!("token = \"{t}\"\n"));
        }
    }
    for _ in 0..1000 {
        text.push_str(filler);
    }
    let whole = scanner.scan(text.as_bytes(), Some("s.txt"));
    for read_size in [1 << 20, 4096, 77_777] {
        let streamed = stream_scan(&scanner, text.as_bytes(), read_size);
        let key = |f: &Finding| {
            (
                f.rule_id.clone(),
                f.location.line,
                f.fingerprint.clone(),
                f.location.offset,
            )
        };
        assert_eq!(
            streamed.iter().map(key).collect::<Vec<_>>(),
            whole.iter().map(key).collect::<Vec<_>>(),
            "read size {read_size}"
        );
        assert_eq!(
            streamed.len(),
            planted.len(),
            "read size {read_size}: {streamed:#?}"
        );
        for ((line, secret, rule), f) in planted.iter().zip(&streamed) {
            assert_eq!(f.rule_id, *rule);
            assert_eq!(f.location.line, Some(*line));
            assert_eq!(f.fingerprint, fingerprint(rule, secret.as_bytes()));
        }
    }
}

/// Generates `total` bytes of code-like text on the fly, with a secret
/// line every `every` bytes; never holds more than one block.
struct Generator {
    block: Vec<u8>,
    pos_in_block: usize,
    produced: u64,
    total: u64,
    blocks: u64,
    every_blocks: u64,
    planted: u64,
}

impl Generator {
    fn new(total: u64, every_blocks: u64) -> Self {
        let mut block = String::new();
        let lines = [
            "fn handle(req: Request) -> Response { let key = req.header(\"x-id\"); respond(key) }\n",
            "    config.token_ttl = 3600; // seconds\n",
            "import { secretSauce } from './sauce';\n",
            "password_hint: \"ask the admin\"\n",
            "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
        ];
        let mut i = 0;
        while block.len() < (1 << 20) - 200 {
            block.push_str(lines[i % lines.len()]);
            i += 1;
        }
        Self {
            block: block.into_bytes(),
            pos_in_block: 0,
            produced: 0,
            total,
            blocks: 0,
            every_blocks,
            planted: 0,
        }
    }

    fn next_block(&mut self) {
        self.blocks += 1;
        self.pos_in_block = 0;
        // Rewrite the block's tail: a secret line in every Nth block.
        let tail = self.block.len() - 100;
        let line = if self.blocks.is_multiple_of(self.every_blocks) {
            self.planted += 1;
            format!("t = {}\n", token(self.blocks))
        } else {
            "// nothing to see in this block, move along please\n".to_string()
        };
        let mut l = line.into_bytes();
        l.resize(100, b' ');
        l[99] = b'\n';
        self.block[tail..].copy_from_slice(&l);
    }
}

impl Read for Generator {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.produced >= self.total {
            return Ok(0);
        }
        if self.pos_in_block == self.block.len() {
            self.next_block();
        }
        let n = buf
            .len()
            .min(self.block.len() - self.pos_in_block)
            .min((self.total - self.produced) as usize);
        buf[..n].copy_from_slice(&self.block[self.pos_in_block..self.pos_in_block + n]);
        self.pos_in_block += n;
        self.produced += n as u64;
        Ok(n)
    }
}

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn scan_generated(total: u64) {
    let scanner = Scanner::builtin();
    let mut generator = Generator::new(total, 64);
    // Whole blocks only, at least `total` bytes, so every planted line is
    // emitted.
    let block = generator.block.len() as u64;
    let total = total.div_ceil(block) * block;
    generator.total = total;
    // The first block is written before reading starts, so prime it.
    generator.next_block();
    generator.blocks = 0;
    generator.planted = 0;
    let mut found = 0u64;
    let stats = scanner
        .scan_reader(&mut generator, Some("gen"), |f| {
            assert_eq!(f.rule_id, "github-pat");
            found += 1;
        })
        .unwrap();
    assert_eq!(stats.bytes, total);
    assert_eq!(found, generator.planted, "every planted secret found once");
    assert!(
        generator.planted >= total / (64 << 20),
        "test plants enough"
    );
    // The window is fixed: 1 MiB plus a 64 KiB overlap.
    assert_eq!(stats.max_buffer, (1 << 20) + (64 << 10));
    if let Some(hwm) = vm_hwm_kib() {
        // Peak RSS of the whole test process: far below the input size.
        assert!(
            hwm < 256 * 1024,
            "peak RSS {hwm} KiB while streaming {total} bytes"
        );
    }
}

/// The acceptance test: 1 GiB generated on the fly (a few seconds even in
/// the dev profile).
#[test]
fn a_1_gib_stream_scans_in_constant_memory() {
    scan_generated(1 << 30);
}
