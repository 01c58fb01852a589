//! Prints, as JSON, a placeholder and a documentation example for every
//! built-in rule (token-shaped, so the egress profile blocks them; the code
//! profile must not report them), for the benchmark corpus of
//! `bench/scan/gencorpus.py`. Usage:
//! `cargo run --release -p bottle-secrets --example bench_placeholders > p.json`.

use bottle_secrets::{
    PlaceholderKind, Profile, SampleRng, Scanner, builtin_rules, render_placeholder,
};

fn main() {
    let egress = Scanner::builtin().with_profile(Profile::Egress);
    let mut out = Vec::new();
    for (i, rule) in builtin_rules().iter().enumerate() {
        if rule.path.is_some() {
            continue;
        }
        let mut rng = SampleRng::new(9000 + i as u64);
        let shaped: Vec<(PlaceholderKind, String)> = PlaceholderKind::ALL
            .into_iter()
            .filter_map(|k| render_placeholder(rule.sample, k, &mut rng).map(|t| (k, t)))
            .filter(|(_, t)| {
                egress
                    .scan(t.as_bytes(), None)
                    .iter()
                    .any(|f| f.rule_id == rule.id)
            })
            .collect();
        // The placeholder: a dull body; the documentation example: the
        // `EXAMPLE` form where the alphabet has it, else another kind.
        let dull: Vec<_> = shaped
            .iter()
            .filter(|(k, _)| *k != PlaceholderKind::Example)
            .collect();
        let placeholder = match dull.len() {
            0 => shaped.first(),
            n => Some(dull[i % n]),
        };
        let example = shaped
            .iter()
            .find(|(k, _)| *k == PlaceholderKind::Example)
            .or(shaped
                .iter()
                .rev()
                .find(|(k, _)| Some(k) != placeholder.map(|p| &p.0)))
            .or(placeholder);
        for (role, p) in [("placeholder", placeholder), ("example", example)] {
            if let Some((k, text)) = p {
                out.push(format!(
                    "{{\"rule\": {:?}, \"role\": {role:?}, \"kind\": \"{k:?}\", \"text\": {}}}",
                    rule.id,
                    json_string(text)
                ));
            }
        }
    }
    println!("[\n{}\n]", out.join(",\n"));
}

fn json_string(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
