//! Issue 12, class 5: financial and personal data (card numbers, IBANs,
//! US Social Security and bank routing numbers,
//! crypto-wallet keys and addresses), on by default, switched per bottle;
//! and class 7: credentials reflected by their own host are replaced by the
//! agent's placeholder before the agent reads them.

use super::common::*;
use base64::Engine;
use bottle_egress::dlp_samples as samples;
use bottle_egress::{Credential, DlpAllow, DlpData, Secret};
use bottle_testkit::upstream::{self, Upstream};
use bytes::Bytes;

async fn setup(h: &mut Harness) -> (Upstream, bottle_egress::ProxyHandle, String) {
    let up = upstream::http().run().await;
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let base = format!("http://127.0.0.1:{}", up.port());
    (up, proxy, base)
}

/// Each body, POSTed as a model-API request, passes.
async fn assert_bodies_pass(proxy: std::net::SocketAddr, base: &str, bodies: &[String]) {
    for body in bodies {
        let r = plain(
            proxy,
            "POST",
            &format!("{base}/v1/messages"),
            &[],
            body.clone(),
        )
        .await;
        assert_eq!(r.status, 200, "benign body blocked: {body}\n{}", r.text());
    }
}

/// Each path and query, fetched with GET, passes.
async fn assert_paths_pass(proxy: std::net::SocketAddr, base: &str, paths: &[String]) {
    for path in paths {
        let r = get(proxy, &format!("{base}{path}")).await;
        assert_eq!(r.status, 200, "benign path blocked: {path}\n{}", r.text());
    }
}

fn group4(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

/// (body, rule, the value that must not reach the audit log).
fn true_samples() -> Vec<(String, &'static str, String)> {
    let visa = samples::card("4", 16, 11);
    let amex = samples::card("34", 15, 12);
    let iban = samples::iban("DE", "500105175407324931");
    let mut wif = vec![0x80];
    wif.extend((0..32u8).map(|i| i.wrapping_mul(29).wrapping_add(3)));
    wif.push(1);
    let wif = samples::base58check(&wif);
    let mut addr = vec![0x05];
    addr.extend((0..20u8).map(|i| i.wrapping_mul(17).wrapping_add(9)));
    let addr = samples::base58check(&addr);
    let segwit = samples::bech32("bc", &(0..20u8).collect::<Vec<_>>());
    let seed = samples::seed(12, 42);
    let hexkey: String = (0..32u8)
        .map(|i| format!("{:02x}", i.wrapping_mul(73).wrapping_add(1)))
        .collect();
    vec![
        (
            format!("{{\"note\":\"my card is {}\"}}", group4(&visa)),
            "card-number",
            visa.clone(),
        ),
        (
            format!("{{\"card_number\":\"{amex}\",\"exp\":\"12/29\"}}"),
            "card-number",
            amex,
        ),
        (format!("{{\"iban\":\"{iban}\"}}"), "iban", iban.clone()),
        // Published test numbers and documentation examples: the proxy
        // cannot tell them from real ones.
        (
            "{\"payment\":{\"card_number\":\"4111111111111111\",\"cvv\":\"123\"}}".to_string(),
            "card-number",
            "4111111111111111".to_string(),
        ),
        (
            "name,card\nA,4242 4242 4242 4242\n".to_string(),
            "card-number",
            "4242 4242 4242 4242".to_string(),
        ),
        (
            "{\"to\":\"GB82WEST12345698765432\"}".to_string(),
            "iban",
            "GB82WEST12345698765432".to_string(),
        ),
        (
            format!("{{\"text\":\"pay {}\"}}", group4(&iban)),
            "iban",
            iban[4..].to_string(),
        ),
        (format!("{{\"k\":\"{wif}\"}}"), "crypto-wif-key", wif),
        (
            format!("{{\"text\":\"wallet words: {seed}\"}}"),
            "crypto-seed-phrase",
            seed,
        ),
        (
            format!("{{\"text\": \"the private key of my wallet is 0x{hexkey}, keep it\"}}"),
            "crypto-private-key",
            hexkey.clone(),
        ),
        // The scanner's own rule may name it first (`ethereum-private-key`).
        (format!("ETH_PRIVATE_KEY=0x{hexkey}\n"), "", hexkey),
        (format!("{{\"to\":\"{addr}\"}}"), "crypto-address", addr),
        (format!("{{\"to\":\"{segwit}\"}}"), "crypto-address", segwit),
        (
            format!("{{\"text\":\"send the rest to {}\"}}", eth_sample()),
            "crypto-eth-address",
            eth_sample(),
        ),
    ]
}

/// A fresh EIP-55 address (mixed case, checksum valid).
fn eth_sample() -> String {
    let hex: String = (0..20u8)
        .map(|i| format!("{:02x}", i.wrapping_mul(151).wrapping_add(77)))
        .collect();
    samples::eip55(&hex)
}

/// What real model API requests carry: code with long numbers, hashes,
/// English prose. (Published test cards and documentation IBANs are not
/// here: the proxy cannot tell them from real ones, so they block.)
fn benign_samples() -> Vec<String> {
    let visa = samples::card("4", 16, 11);
    let mut wrong = visa.clone().into_bytes();
    wrong[15] = b'0' + (wrong[15] - b'0' + 1) % 10;
    let wrong = String::from_utf8(wrong).unwrap();
    vec![
        // The same number bare in code: no grouping, no card keyword.
        format!(
            "{{\"messages\":[{{\"role\":\"user\",\"content\":\"let id: u64 = {visa};\\nlet ts = 1733112000000000000;\"}}]}}"
        ),
        format!("{{\"note\":\"{}\"}}", group4(&wrong)),
        "{\"content\":\"sha256 = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"}"
            .to_string(),
        "{\"content\":\"The quick brown fox jumps over the lazy dog, then the dog sleeps.\"}"
            .to_string(),
        "{\"content\":\"version = \\\"4.1.2\\\" # 4111-1111 is a part number\"}".to_string(),
        // A git SHA-1 written with 0x, a digest in a URL, an Ethereum
        // address whose checksum is off by one letter's case.
        "{\"content\":\"reverted 0x9fbdb1c0e0c1b5a3d9c9d5c8e4f0a1b2c3d4e5f6, see https://github.com/o/r/commit/9fbdb1c0e0c1b5a3d9c9d5c8e4f0a1b2c3d4e5f6\"}".to_string(),
        format!("{{\"content\":\"let to = \\\"{}\\\";\"}}", case_off(&eth_sample())),
    ]
}

#[tokio::test]
async fn issue12_financial_and_wallet_data_blocks_everywhere_and_benign_twins_pass() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    for (body, rule, value) in true_samples() {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/v1/messages"),
            &[],
            body.clone(),
        )
        .await;
        if rule.is_empty() {
            assert_blocked_by(&r, 403, "dlp-body");
        } else {
            assert_blocked(&r, 403, &format!("dlp-body:{rule}"));
        }
        assert!(!r.text().contains(&value), "the block echoes the value");
        assert!(r.text().contains("dlp_allow"), "{}", r.text());
        assert!(
            !h.audit_text().contains(&value),
            "the value is in the audit log"
        );
    }
    let card = samples::card("52", 16, 3);
    let r = get(proxy.addr(), &format!("{base}/pay?card={card}")).await;
    assert_blocked(&r, 403, "dlp-url:card-number");
    let iban = samples::iban("GB", "NWBK60161331926811");
    let r = plain(
        proxy.addr(),
        "GET",
        &format!("{base}/"),
        &[("x-note", &iban)],
        Bytes::new(),
    )
    .await;
    assert_blocked(&r, 403, "dlp-header:iban");
    assert!(
        up.requests().is_empty(),
        "a blocked request reached the upstream"
    );
    assert_bodies_pass(proxy.addr(), &base, &benign_samples()).await;
}

/// `a` with the case of its last lower-case letter flipped: still mixed
/// case, the EIP-55 checksum no longer holds.
fn case_off(a: &str) -> String {
    let mut b = a.as_bytes().to_vec();
    let k = b.iter().rposition(u8::is_ascii_lowercase).unwrap();
    b[k] = b[k].to_ascii_uppercase();
    String::from_utf8(b).unwrap()
}

/// Issue 12, class 5: Ethereum addresses. A mixed-case one is judged by its
/// EIP-55 checksum alone, a one-case one by an address keyword before it;
/// in a body, a URL and a header.
#[tokio::test]
async fn issue12_ethereum_addresses_block_by_checksum_or_keyword_and_twins_pass() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    // The EIP-55 spec's first example, and a one-case spec example.
    let spec = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    let lower = "0xde709f2102306220921060314715629080e2fb77";
    for body in [
        format!("{{\"messages\":[{{\"role\":\"user\",\"content\":\"pay {spec}\"}}]}}"),
        format!("{{\"from\":\"me\",\"to\":\"{}\"}}", eth_sample()),
        format!("{{\"wallet_address\":\"{lower}\"}}"),
    ] {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/v1/messages"),
            &[],
            body,
        )
        .await;
        assert_blocked(&r, 403, "dlp-body:crypto-eth-address");
        assert!(r.text().contains("dlp_allow"), "{}", r.text());
    }
    let r = plain(
        proxy.addr(),
        "GET",
        &format!("{base}/"),
        &[("x-note", &format!("eth {lower}"))],
        Bytes::new(),
    )
    .await;
    assert_blocked(&r, 403, "dlp-header:crypto-eth-address");
    assert!(
        up.requests().is_empty(),
        "a blocked request reached the upstream"
    );
    assert!(
        !h.audit_text().contains(&spec[2..]),
        "the address is in the audit log"
    );
    // Benign twins: the checksum off by one letter's case, the one-case
    // address without a keyword, a git SHA-1 with 0x, a 40-hex digest in
    // a URL path.
    let sha1 = "9fbdb1c0e0c1b5a3d9c9d5c8e4f0a1b2c3d4e5f6";
    let bodies = [
        format!("{{\"content\":\"pay {}\"}}", case_off(spec)),
        format!("{{\"content\":\"id {lower}\"}}"),
        format!("{{\"content\":\"git show 0x{sha1}\"}}"),
    ];
    assert_bodies_pass(proxy.addr(), &base, &bodies).await;
    assert_paths_pass(
        proxy.addr(),
        &base,
        &[
            format!("/repos/o/r/commits/{sha1}"),
            format!("/blobs/0x{sha1}/raw"),
        ],
    )
    .await;
    assert_eq!(up.requests().len(), 5);
}

#[tokio::test]
async fn issue12_financial_data_is_switched_per_bottle_and_accepted_per_host() {
    // Off in this bottle's config: the same bodies pass.
    let mut h = Harness::new();
    h.cfg.dlp = DlpData {
        cards: false,
        iban: false,
        ssn: false,
        bank_routing: false,
        crypto_keys: false,
        crypto_addresses: false,
    };
    let (up, proxy, base) = setup(&mut h).await;
    let ours: Vec<_> = true_samples()
        .into_iter()
        .filter(|(_, rule, _)| !rule.is_empty())
        .collect();
    let bodies: Vec<String> = ours.iter().map(|(body, _, _)| body.clone()).collect();
    assert_bodies_pass(proxy.addr(), &base, &bodies).await;
    assert_eq!(up.requests().len(), ours.len());
    // Cards only off: an IBAN still blocks.
    let mut h = Harness::new();
    h.cfg.dlp.cards = false;
    let (_up, proxy, base) = setup(&mut h).await;
    let samples = true_samples();
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/x"),
        &[],
        samples[0].0.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/x"),
        &[],
        samples[2].0.clone(),
    )
    .await;
    assert_blocked(&r, 403, "dlp-body:iban");
    // A finding accepted for this host by its fingerprint.
    let line = h.wait_audit(|l| l["rule"] == "iban").await;
    let fp = line["fingerprint"].as_str().unwrap().to_string();
    let mut h = Harness::new();
    let up = upstream::http().run().await;
    h.cfg.dlp_allow.push(DlpAllow {
        host: "127.0.0.1".into(),
        fingerprint: fp,
    });
    h.loopback().allow(&format!("127.0.0.1:{}", up.port()));
    let proxy = h.start().await;
    let base = format!("http://127.0.0.1:{}", up.port());
    let r = plain(
        proxy.addr(),
        "POST",
        &format!("{base}/x"),
        &[],
        samples[2].0.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Class 7: the credential's own host echoes the request (headers in the
/// body and in response headers); the agent reads its placeholder, never
/// the real value, in any encoding, over HTTP/1.1 and HTTP/2.
#[tokio::test]
async fn issue12_a_reflected_credential_reaches_the_agent_as_its_placeholder() {
    let mut h = Harness::new();
    let api = upstream::https(&h.upstream_ca)
        .name("api.example.com")
        .reflect_headers("/debug/echo")
        .run()
        .await;
    let other = upstream::https(&h.upstream_ca)
        .name("other.example.com")
        .reflect_headers("/debug/echo")
        .run()
        .await;
    let real = format!("sk-real-{}", random_alnum(32));
    let placeholder = "bottle-placeholder-example-api-key";
    h.cfg.credentials.push(Credential {
        host: "api.example.com".into(),
        header: "authorization".into(),
        value: Secret::new(format!("Bearer {real}")),
        placeholder: Some(placeholder.into()),
    });
    h.allow("api.example.com").allow("other.example.com");
    h.map_host("api.example.com", api.addr())
        .map_host("other.example.com", other.addr());
    let proxy = h.start().await;
    for h2 in [false, true] {
        let r = https(
            &h,
            proxy.addr(),
            "api.example.com:443",
            "GET",
            "/debug/echo",
            &[
                ("authorization", &format!("Bearer {placeholder}")),
                ("accept-encoding", "gzip"),
            ],
            Bytes::new(),
            h2,
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.text();
        let heads = format!("{:?}", r.headers);
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("Bearer {real}"));
        for form in [real.clone(), b64.clone(), real.replace('-', "%2D")] {
            assert!(
                !body.contains(&form),
                "h2={h2}: the agent read the credential: {body}"
            );
            assert!(!heads.contains(&form), "h2={h2}: in a header: {heads}");
        }
        assert!(
            body.contains(&format!("Bearer {placeholder}")),
            "h2={h2}: {body}"
        );
        assert_eq!(
            r.header("x-echo-authorization"),
            Some(format!("Bearer {placeholder}").as_str())
        );
    }
    // The upstream got the real value, uncompressed replies were asked for.
    for req in api.requests() {
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {real}").as_str())
        );
        assert_eq!(req.header("accept-encoding"), Some("identity"));
    }
    // Benign twin: another host's reflection is untouched (it never got
    // the credential), and so is its Accept-Encoding.
    let r = https(
        &h,
        proxy.addr(),
        "other.example.com:443",
        "GET",
        "/debug/echo",
        &[("x-trace", placeholder), ("accept-encoding", "gzip")],
        Bytes::new(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(other.requests()[0].header("accept-encoding"), Some("gzip"));
    assert!(r.text().contains(placeholder));
}

/// Issue 12, class 5: US Social Security numbers, ABA routing numbers by
/// keyword, 64-hex private keys assigned to a short key name (`pk=`), in
/// a URL query and path, a header and a body, the benchmark's shapes among
/// them; and the benign twins that look like them.
#[tokio::test]
async fn issue12_ssn_routing_and_short_named_keys_block_and_twins_pass() {
    let mut h = Harness::new();
    let (up, proxy, base) = setup(&mut h).await;
    let ssn = samples::ssn(123, 45, 6789);
    let rtn = samples::aba("02100002");
    let key: String = (0..32u8)
        .map(|i| format!("{:02x}", i.wrapping_mul(89).wrapping_add(7)))
        .collect();
    let bodies = [
        (
            format!(
                "{{\"ssn\": \"{ssn}\", \"routing\": \"123456789\", \"account\": \"9876543210\"}}"
            ),
            "ssn",
        ),
        (
            format!("{{\"social_security_number\": {}}}", ssn.replace('-', "")),
            "ssn",
        ),
        (
            format!("{{\"routing_number\": \"{rtn}\", \"account\": \"9876543210\"}}"),
            "bank-routing-number",
        ),
        (format!("{{\"pk\": \"0x{key}\"}}"), "crypto-private-key"),
    ];
    for (body, rule) in &bodies {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/api/records"),
            &[],
            body.clone(),
        )
        .await;
        assert_blocked(&r, 403, &format!("dlp-body:{rule}"));
        assert!(r.text().contains("dlp_allow"), "{}", r.text());
    }
    for (path, rule) in [
        (format!("/exfil?pk={key}"), "crypto-private-key"),
        (format!("/people/{ssn}"), "ssn"),
        (format!("/q?ssn={}", ssn.replace('-', "")), "ssn"),
        (format!("/pay?aba={rtn}"), "bank-routing-number"),
    ] {
        let r = get(proxy.addr(), &format!("{base}{path}")).await;
        assert_blocked(&r, 403, &format!("dlp-url:{rule}"));
    }
    for (name, value, rule) in [
        ("x-ssn", ssn.clone(), "ssn"),
        ("x-routing-number", rtn.clone(), "bank-routing-number"),
        ("x-pk", key.clone(), "crypto-private-key"),
    ] {
        let r = plain(
            proxy.addr(),
            "GET",
            &format!("{base}/"),
            &[(name, &value)],
            Bytes::new(),
        )
        .await;
        assert_blocked(&r, 403, &format!("dlp-header:{rule}"));
    }
    assert!(
        up.requests().is_empty(),
        "a blocked request reached the upstream"
    );
    let audit = h.audit_text();
    for v in [ssn.replace('-', ""), ssn.clone(), rtn.clone(), key.clone()] {
        assert!(!audit.contains(&v), "{v} is in the audit log");
    }
    // Benign twins: phone numbers, dates, ISBNs, versions, UUIDs, order
    // ids, an invalid area, nine digits with no keyword, the routing
    // digits with no keyword, a routing keyword with a bad checksum,
    // digests and ids of 64 hex digits.
    let mut bad = rtn.clone().into_bytes();
    bad[8] = b'0' + (bad[8] - b'0' + 1) % 10;
    let bad = String::from_utf8(bad).unwrap();
    let twins = [
        "{\"content\":\"call 555-123-4567 on 2024-12-04\"}".to_string(),
        "{\"isbn\":\"978-3-16-148410-0\",\"version\":\"1.23.4567\"}".to_string(),
        "{\"id\":\"123e4567-e89b-12d3-a456-426614174000\",\"order\":\"ORD-2024-123-45-6789-1\"}"
            .to_string(),
        format!("{{\"ssn\":\"{}\"}}", samples::ssn(666, 45, 6789)),
        format!("{{\"ssn\":\"{}\"}}", samples::ssn(912, 45, 6789)),
        format!("{{\"count\":{}}}", ssn.replace('-', "")),
        format!("{{\"id\":\"{rtn}\"}}"),
        format!("{{\"routing_number\":\"{bad}\"}}"),
        format!("{{\"sha256\":\"{key}\",\"etag\":\"{key}\"}}"),
    ];
    assert_bodies_pass(proxy.addr(), &base, &twins).await;
    assert_paths_pass(
        proxy.addr(),
        &base,
        &[
            format!("/dl?sha256={key}"),
            format!("/objects/{key}?id={key}"),
            "/call/555-123-4567".to_string(),
        ],
    )
    .await;
    assert_eq!(up.requests().len(), twins.len() + 3);
    // Switched off in this bottle: the SSN and routing bodies pass, the
    // short-named key (crypto_keys, still on) does not.
    let mut h = Harness::new();
    h.cfg.dlp.ssn = false;
    h.cfg.dlp.bank_routing = false;
    let (_up, proxy, base) = setup(&mut h).await;
    for (body, rule) in &bodies {
        let r = plain(
            proxy.addr(),
            "POST",
            &format!("{base}/api/records"),
            &[],
            body.clone(),
        )
        .await;
        if *rule == "crypto-private-key" {
            assert_blocked(&r, 403, "dlp-body:crypto-private-key");
        } else {
            assert_eq!(r.status, 200, "{body}: {}", r.text());
        }
    }
}
