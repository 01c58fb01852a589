//! Ways out that must not work from inside the agent, one test each. Each
//! attempt runs in the agent and prints `ESCAPED` only if it got through.

use super::{Opts, TestBottle, setup, show};
use bottle_testkit::docker::{HTTPS_HOST, METADATA_IP};

/// Run `script` in a fresh bottle; it must not print `ESCAPED`, must print
/// `BLOCKED`, and the upstream must have received nothing.
#[track_caller]
fn must_fail(
    name: &str,
    opts: Opts,
    script: impl Fn(&TestBottle) -> String,
) -> (TestBottle, String) {
    let b = TestBottle::new(name, opts);
    let out = b.run(&script(&b));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!text.contains("ESCAPED"), "{}", show(&out));
    assert!(text.contains("BLOCKED"), "{}", show(&out));
    assert!(
        b.up.https_requests().is_empty(),
        "the upstream got a request: {:#?}",
        b.up.https_requests()
    );
    (b, text)
}

#[test]
fn direct_tcp_to_the_upstreams_ip_fails() {
    let Some(()) = setup() else { return };
    // Also the internal network's gateway: the host has no address there,
    // so the agent cannot reach the host's own services through it.
    let (b, text) = must_fail("direct", Opts::default(), |b| {
        format!(
            r#"python3 - <<'PY'
import socket, struct
gw = None
for line in open("/proc/net/route").read().splitlines()[1:]:
    f = line.split()
    if f[1] == "00000000":
        gw = socket.inet_ntoa(struct.pack("<L", int(f[2], 16)))
for target in ("{ip}", gw):
    for port in (443, 2375):
        try:
            socket.create_connection((target, port), timeout=10)
            print("ESCAPED", target, port)
        except OSError as e:
            print("BLOCKED", target, port, e.errno, e)
PY"#,
            ip = b.up.https_ip
        )
    });
    assert_eq!(text.matches("BLOCKED").count(), 4, "{text}");
    // Refused by the network, not by a slow timeout that could mean a
    // filtered path: there is no route.
    assert!(!text.contains("timed out"), "{text}");
    b.assert_clean();
}

#[test]
fn a_request_with_the_proxy_variables_unset_fails() {
    let Some(()) = setup() else { return };
    let (b, _) = must_fail("noproxy", Opts::default(), |b| {
        format!(
            r#"unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
curl -sS -m 10 https://{HTTPS_HOST}/by-name && echo ESCAPED || echo BLOCKED by-name
curl -sS -m 10 --resolve {HTTPS_HOST}:443:{ip} https://{HTTPS_HOST}/by-address && echo ESCAPED || echo BLOCKED by-address
curl -sS -m 10 -k https://{ip}/by-ip && echo ESCAPED || echo BLOCKED by-ip"#,
            ip = b.up.https_ip
        )
    });
    b.assert_clean();
}

#[test]
fn ipv6_is_not_available() {
    let Some(()) = setup() else { return };
    let (b, text) = must_fail("ipv6", Opts::default(), |b| {
        format!(
            r#"python3 - <<'PY'
import socket
print("addresses:", open("/proc/net/if_inet6").read().strip() or "none")
for target in ("fd00::1", "2001:db8::1", "::ffff:{ip}"):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect((target, 443))
        print("ESCAPED", target)
    except OSError as e:
        print("BLOCKED", target, e.errno)
PY"#,
            ip = b.up.https_ip
        )
    });
    assert!(
        text.contains("addresses: none"),
        "the agent has IPv6 addresses:\n{text}"
    );
    assert_eq!(text.matches("BLOCKED").count(), 3, "{text}");
    b.assert_clean();
}

#[test]
fn names_outside_the_bottle_do_not_resolve() {
    let Some(()) = setup() else { return };
    // The upstream's name resolves for the sidecars (they share its
    // network); from the agent it must not, neither through the system
    // resolver nor by asking Docker's embedded resolver directly.
    let (b, text) = must_fail("dns", Opts::default(), |b| {
        let egress = format!("bottle-{}-egress", b.agent);
        format!(
            r#"getent hosts {egress} >/dev/null && echo "inside-name-resolves"
getent hosts {HTTPS_HOST} && echo ESCAPED getent || echo BLOCKED getent
python3 - <<'PY'
import socket, struct
def ask(name, server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    s.sendto(struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1), (server, 53))
    try:
        d, _ = s.recvfrom(512)
        return struct.unpack(">H", d[6:8])[0]
    except OSError:
        return 0
for server in ["127.0.0.11"] + [l.split()[1] for l in open("/etc/resolv.conf") if l.startswith("nameserver")]:
    n = ask("{HTTPS_HOST}", server)
    print(("ESCAPED" if n else "BLOCKED"), "raw query to", server, "answers", n)
PY"#
        )
    });
    assert!(
        text.contains("inside-name-resolves"),
        "the bottle's own names must resolve:\n{text}"
    );
    b.assert_clean();
}

#[test]
fn connect_to_a_port_that_is_not_allowed_is_refused() {
    let Some(()) = setup() else { return };
    let (b, text) = must_fail("port", Opts::default(), |_| {
        format!(
            r#"code=$(curl -sS -o /tmp/body -w '%{{http_connect}} %{{http_code}}' -m 10 https://{HTTPS_HOST}:8443/)
echo "status=$code"
cat /tmp/body
grep -q 'blocked by allowlist:port-not-allowed' /tmp/body && echo BLOCKED || echo ESCAPED"#
        )
    });
    // The proxy accepts the tunnel and answers it itself (a readable 403);
    // nothing reached the upstream (`must_fail` checks that).
    assert!(text.contains("status=200 403"), "{text}");
    assert!(
        text.contains(&format!("allowlist = [\"{HTTPS_HOST}:8443\"]")),
        "{text}"
    );
    let audit = b.audit();
    assert!(
        audit.iter().any(|l| l["host"] == HTTPS_HOST
            && l["port"] == 8443
            && l["check"] == "allowlist"
            && l["rule"] == "port-not-allowed"),
        "{audit:#?}"
    );
    b.assert_clean();
}

#[test]
fn plain_bytes_after_connect_are_refused() {
    let Some(()) = setup() else { return };
    let (b, text) = must_fail("plain", Opts::default(), |b| {
        format!(
            r#"python3 - <<'PY'
import socket
s = socket.create_connection(("bottle-{agent}-egress", 3128), timeout=10)
s.sendall(b"CONNECT {HTTPS_HOST}:443 HTTP/1.1\r\nHost: {HTTPS_HOST}:443\r\n\r\n")
head = s.recv(4096)
print("connect:", head.split(b"\r\n")[0].decode())
# Not a TLS ClientHello: a plain request the upstream would answer.
s.sendall(b"GET /plain HTTP/1.1\r\nHost: {HTTPS_HOST}\r\n\r\n")
try:
    reply = s.recv(4096)
except OSError as e:
    reply = b""
# The upstream's echo would name the path; anything else is the gate.
if b'"path": "/plain"' in reply:
    print("ESCAPED", reply[:200])
else:
    print("BLOCKED", reply.split(b"\r\n")[0] if reply else "closed")
PY"#,
            agent = b.agent
        )
    });
    assert!(
        text.contains("connect: HTTP/1.1 200"),
        "the CONNECT itself is allowed:\n{text}"
    );
    let audit = b.audit();
    assert!(
        audit
            .iter()
            .any(|l| l["host"] == HTTPS_HOST && l["decision"] == "block" && l["check"] == "tls"),
        "{audit:#?}"
    );
    b.assert_clean();
}

#[test]
fn http_to_the_metadata_address_is_refused_before_any_packet_leaves() {
    let Some(()) = setup() else { return };
    // The metadata address is even allowlisted here, and a trap listens on
    // it on a network the proxy can reach: only the proxy's own address
    // check stands between the request and the trap.
    let (b, text) = must_fail(
        "metadata",
        Opts {
            trap: true,
            allow: vec![format!("{METADATA_IP:?}")],
            ..Opts::default()
        },
        |_| {
            format!(
                r#"out=$(curl -sS -D - -o /dev/null -m 10 http://{METADATA_IP}/latest/meta-data/)
echo "$out" | head -1
echo "$out" | grep -i '^x-bottle-block'
echo "$out" | head -1 | grep -q ' 403' && echo BLOCKED via-proxy || echo ESCAPED via-proxy
curl -sS -m 10 --noproxy '*' http://{METADATA_IP}/latest/meta-data/ && echo ESCAPED direct || echo BLOCKED direct"#
            )
        },
    );
    assert!(
        text.to_ascii_lowercase().contains("x-bottle-block: ssrf:"),
        "{text}"
    );
    assert_eq!(
        b.up.trap_hits(),
        Vec::<String>::new(),
        "a connection reached the metadata trap"
    );
    let audit = b.audit();
    let line = audit
        .iter()
        .find(|l| l["host"] == METADATA_IP)
        .unwrap_or_else(|| panic!("{audit:#?}"));
    assert_eq!(line["check"], "ssrf", "{line}");
    assert_eq!(line["bytes_up"], 0, "{line}");
    b.assert_clean();
}
