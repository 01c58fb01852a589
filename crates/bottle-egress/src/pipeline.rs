//! The state every connection shares and the checks both the outer
//! listener ([`crate::proxy`]) and the tunnels ([`crate::tunnel`]) run on a
//! request: allowlist, URL DLP, DNS-exfiltration shape, resolution and SSRF,
//! header and body DLP, credential injection and forwarding.
//!
//! It sits below both callers and depends on neither, so the per-request
//! pipeline has one definition and the modules form no loop.

use crate::audit::{Audit, Event};
use crate::block::{Block, too_large};
use crate::body::{self, AuditedBody, ProxyBody};
use crate::ca::CertAuthority;
use crate::config::{Config, Limits, Rules};
use crate::dlp::Dlp;
use crate::error::Error;
use crate::net::Hooks;
use crate::reasons::{check, rule};
use crate::redact::{RedactedBody, Redactor};
use crate::target::Host;
use crate::upstream::{Dest, UpstreamError, Upstreams};
use crate::{exfil, ssrf, urlshape, websocket};
use bottle_policy::HostPattern;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A credential ready to inject.
pub(crate) struct Cred {
    pub host: String,
    pub header: HeaderName,
    pub value: HeaderValue,
}

/// Everything a connection task needs, shared.
pub(crate) struct Shared {
    pub rules: Rules,
    pub ca: CertAuthority,
    pub dlp: Arc<Dlp>,
    pub audit: Arc<Audit>,
    pub hooks: Hooks,
    pub upstreams: Upstreams,
    pub creds: Vec<Cred>,
    /// Per credential host: its credentials' forms, replaced in responses.
    pub redactors: HashMap<String, Arc<Redactor>>,
    pub limits: Limits,
    pub allow_loopback: bool,
    /// Distinct names per wildcard (DNS exfiltration by many lookups).
    pub names: exfil::NameBudget,
    /// Learn mode: allowlist refusals pass, logged as `learned`.
    pub learn: bool,
}

impl Shared {
    pub(crate) fn build(config: &Config, hooks: Hooks) -> Result<Self, Error> {
        let rules = config.compile_rules()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = CertAuthority::load(
            &config.ca.cert,
            &config.ca.key,
            config.limits.leaf_cache_size,
            provider.clone(),
        )?;
        let (tls_any, tls_h1) = crate::upstream::client_configs(provider, &config.upstream_ca)?;
        let mut scanner = bottle_secrets::Scanner::builtin();
        let mut creds = Vec::new();
        for c in &config.credentials {
            scanner.add_known_secret(
                &format!("credential for {}", c.host),
                c.value.expose().as_bytes(),
            );
            let header =
                HeaderName::from_bytes(c.header.as_bytes()).map_err(|_| Error::Config {
                    key: "credentials.header".into(),
                    message: "invalid header name".into(),
                })?;
            let mut value = HeaderValue::from_str(c.value.expose()).map_err(|_| Error::Config {
                key: "credentials.value".into(),
                message: "not a valid header value".into(),
            })?;
            value.set_sensitive(true);
            creds.push(Cred {
                host: c.host.to_ascii_lowercase(),
                header,
                value,
            });
        }
        let mut by_host: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for c in &config.credentials {
            by_host
                .entry(c.host.to_ascii_lowercase())
                .or_default()
                .push((c.value.expose().to_string(), c.placeholder.clone()));
        }
        let redactors = by_host
            .into_iter()
            .filter_map(|(h, v)| Redactor::new(&v).map(|r| (h, Arc::new(r))))
            .collect();
        for k in &config.known_secrets {
            scanner.add_known_secret(&k.name, k.value.expose().as_bytes());
        }
        let audit = Arc::new(Audit::open(&config.bottle, &config.audit)?);
        let limits = config.limits.clone();
        let upstreams = Upstreams::new(
            hooks.connector.clone(),
            tls_any,
            tls_h1,
            Duration::from_millis(limits.connect_timeout_ms),
            Duration::from_millis(limits.tls_timeout_ms),
            limits.max_idle_per_upstream,
        );
        Ok(Self {
            rules,
            ca,
            dlp: Arc::new(Dlp::with_data(
                scanner,
                limits.scan_limit,
                config
                    .dlp_allow
                    .iter()
                    .map(|a| {
                        (
                            a.host.to_ascii_lowercase(),
                            a.fingerprint.to_ascii_lowercase(),
                        )
                    })
                    .collect(),
                config.dlp,
            )),
            audit,
            hooks,
            upstreams,
            creds,
            redactors,
            names: exfil::NameBudget::new(limits.max_names_per_wildcard),
            limits,
            allow_loopback: config.dangerously_allow_loopback_upstreams,
            learn: config.learn,
        })
    }

    /// Log a block and build its response.
    pub fn deny(&self, ev: &Event, b: &Block) -> Response<ProxyBody> {
        let resp = b.response();
        self.audit.log_with(
            ev,
            false,
            b.check,
            &b.rule,
            b.status.as_u16(),
            b.body_text().len() as u64,
            b.fingerprint.as_deref(),
        );
        resp
    }

    /// Check 2: the allowlist. Returns the allowing rule's text.
    pub fn allow(&self, host: &str, port: u16, method: &str, path: &str) -> Result<String, Block> {
        if let Some(r) = self.rules.allowlist.allowing_rule(host, port, method, path) {
            return Ok(r.to_string());
        }
        if self.learn {
            // Recorded, not refused; the name's shape is still judged in
            // full (`covered_labels`), and every later check applies.
            return Ok(rule::LEARNED.to_string());
        }
        use bottle_policy::suggest;
        let rules = self.rules.allowlist.rules();
        let (rule, what, entry) = if !rules.iter().any(|r| r.host.matches(host)) {
            (
                rule::HOST_NOT_ALLOWED,
                format!("{host} is not on this bottle's allowlist"),
                suggest::allow_entry(host, port, &[], &[]),
            )
        } else if !self.rules.allowlist.allows_host_port(host, port) {
            (
                rule::PORT_NOT_ALLOWED,
                format!("{host} is allowed, but not on port {port}"),
                suggest::allow_entry(host, port, &[], &[]),
            )
        } else {
            (
                rule::METHOD_OR_PATH_NOT_ALLOWED,
                format!("{host} is allowed, but not {method} on this path"),
                suggest::allow_entry(
                    host,
                    port,
                    &[method.to_ascii_uppercase()],
                    &[suggest::path_glob(path)],
                ),
            )
        };
        let detail = format!(
            "{what}\nthe operator can allow it with this entry in the allowlist of the bottle's egress table in the manifest (`bottle why` prints the patch):\n  allowlist = [{entry}]"
        );
        Err(Block::forbidden(check::ALLOWLIST, rule, detail))
    }

    /// Check 3 for the path and query: token rules and known secrets (the
    /// parameters of a presigned shape for known secrets only), the names
    /// of a DNS-over-HTTPS query, then opaque high-entropy values.
    pub fn check_url_path(&self, pq: &str, ev: &mut Event) -> Result<(), Block> {
        let split = urlshape::split(pq);
        let mut verdict = self.dlp.url(&split.scanned, &ev.host);
        for v in &split.exempt {
            if verdict.is_ok() {
                verdict = self.dlp.scan_known(v.as_bytes(), &ev.host);
            }
        }
        if let Err(hit) = verdict {
            ev.path = "[redacted]".into();
            return Err(Block::dlp(
                check::DLP_URL,
                hit,
                "the URL contains a secret",
                &ev.host,
            ));
        }
        // A DNS-over-HTTPS query's names first: a secret in them is named
        // as such, not only as the opaque value its encoding also is.
        for labels in urlshape::doh_query_labels(pq) {
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            if let Err(hit) = self.dlp.host_labels(&labels, &ev.host) {
                ev.path = "[redacted]".into();
                return Err(Block::dlp(
                    check::DLP_URL,
                    hit,
                    "the DNS-over-HTTPS query names a host that contains a secret",
                    &ev.host,
                ));
            }
        }
        if urlshape::opaque_value(&split.scanned) {
            ev.path = "[redacted]".into();
            return Err(Block::forbidden(
                check::DLP_URL,
                rule::HIGH_ENTROPY_VALUE,
                "the URL carries a long random-looking value (an encrypted or encoded payload the scanner cannot read); content-addressed forms (hex digests, sha256:, UUIDs) and presigned URLs pass",
            ));
        }
        self.check_nested_targets(pq)
    }

    /// The SSRF address check for IP literals of URLs nested in the path or
    /// query: a fetch or relay service on the allowed host would reach them
    /// for the agent. Loopback passes (an OAuth `redirect_uri` names the
    /// agent's own machine, which the service cannot reach); `allow_cidrs`
    /// exempts as it does for the request's own address.
    fn check_nested_targets(&self, pq: &str) -> Result<(), Block> {
        for raw in urlshape::nested_hosts(pq) {
            let Some(Host::Ip(ip)) = Host::parse(&raw) else {
                continue;
            };
            if let Err(r) = ssrf::check(ip, &self.rules.cidrs, true) {
                return Err(Block::forbidden(
                    check::SSRF,
                    r,
                    format!(
                        "the URL names {ip} ({r}) as a nested target: a fetch or relay service on this host would reach it for the agent\nif this internal service is meant to be reached, the operator can allow its address in the bottle's egress table of the manifest:\n  allow_cidrs = [{}]",
                        bottle_policy::suggest::cidr_entry(ip)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Checks 3 (host labels), 4 (DNS-exfiltration shape) and 5
    /// (resolution and SSRF). Returns the checked addresses.
    pub async fn check_host(
        &self,
        raw_host: &str,
        host: &Host,
        port: u16,
        ev: &mut Event,
    ) -> Result<Vec<SocketAddr>, Block> {
        let Host::Name(name) = host else {
            return self.resolve_checked(host, port).await.inspect_err(|b| {
                ev.address = b.address;
            });
        };
        if let Some((base, n)) = self.covered_labels(name) {
            // The labels the agent chose, as it spelled them (tokens have
            // case), then as the resolver will see them.
            let raw = raw_host.trim_end_matches('.');
            let raw_labels: Vec<&str> = raw.split('.').take(n).collect();
            let labels: Vec<&str> = name.split('.').take(n).collect();
            if let Err(hit) = self.dlp.host_labels(&raw_labels, name) {
                ev.host = redact_host(&ev.host);
                return Err(Block::dlp(
                    check::DLP_URL,
                    hit,
                    "the host name contains a secret",
                    name,
                ));
            }
            let shape = exfil::check(&labels);
            let over_budget = shape.is_none() && !self.names.admit(base, name);
            if let Some(r) = shape.or(over_budget.then_some(rule::TOO_MANY_NAMES)) {
                ev.host = redact_host(&ev.host);
                let detail = if over_budget {
                    format!(
                        "too many different names under *.{base} (each new name's lookup reaches its nameserver: DNS exfiltration); allow the names you need exactly"
                    )
                } else {
                    "the host name looks like encoded data (DNS exfiltration)".to_string()
                };
                return Err(Block::forbidden(check::DNS_EXFIL, r, detail));
            }
        }
        self.resolve_checked(host, port).await.inspect_err(|b| {
            ev.address = b.address;
        })
    }

    /// The wildcard base and the number of leading labels of `name` the
    /// agent chose: those the most specific matching wildcard covers. `None`
    /// when an exact allowlist or passthrough entry, or the hosts map,
    /// names it (then no label is the agent's).
    fn covered_labels<'a>(&'a self, name: &'a str) -> Option<(&'a str, usize)> {
        if self.rules.hosts.contains_key(name) {
            return None;
        }
        let mut best: Option<&str> = None;
        let all = self
            .rules
            .allowlist
            .rules()
            .iter()
            .chain(self.rules.passthrough.iter());
        for r in all {
            if !r.host.matches(name) {
                continue;
            }
            match &r.host {
                HostPattern::Exact(_) => return None,
                HostPattern::Wildcard(base) => {
                    if best.is_none_or(|b| base.len() > b.len()) {
                        best = Some(base.as_str());
                    }
                }
            }
        }
        let base = match best {
            Some(b) => b,
            // Learn mode, a name no entry covers: every label below the
            // registrable domain is the agent's choice (judged whole, and
            // counted against that domain's budget of names).
            None if self.learn => {
                let reg = bottle_policy::registrable_domain(name).unwrap_or(name);
                if reg.len() >= name.len() {
                    return Some((reg, 0));
                }
                reg
            }
            None => return None,
        };
        let covered = name[..name.len() - base.len()]
            .trim_end_matches('.')
            .split('.')
            .count();
        Some((base, covered))
    }

    async fn resolve_checked(&self, host: &Host, port: u16) -> Result<Vec<SocketAddr>, Block> {
        let ips = match host {
            Host::Ip(ip) => vec![*ip],
            Host::Name(name) => {
                if let Some((ip, p)) = self.rules.hosts.get(name) {
                    // Operator-trusted: no lookup, no address check.
                    return Ok(vec![SocketAddr::new(*ip, p.unwrap_or(port))]);
                }
                let lookup = self.hooks.resolver.resolve(name);
                let timeout = Duration::from_millis(self.limits.connect_timeout_ms);
                match tokio::time::timeout(timeout, lookup).await {
                    Ok(Ok(ips)) if !ips.is_empty() => ips,
                    Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
                        return Err(Block::new(
                            StatusCode::BAD_GATEWAY,
                            check::RESOLVE,
                            rule::NO_ADDRESS,
                            format!("{name} does not resolve"),
                        ));
                    }
                }
            }
        };
        // Every address must pass: a name that mixes public and private
        // answers is refused whole.
        for ip in &ips {
            if let Err(r) = ssrf::check(*ip, &self.rules.cidrs, self.allow_loopback) {
                let what = if matches!(host, Host::Ip(_)) {
                    format!("{host} is a {r} address")
                } else {
                    format!("{host} resolves to a {r} address ({ip})")
                };
                let hint = if r == rule::METADATA || r == rule::LOOPBACK {
                    "; bottles never reach it".to_string()
                } else {
                    format!(
                        "\nif this internal service is meant to be reached, the operator can allow its address in the bottle's egress table of the manifest:\n  allow_cidrs = [{}]",
                        bottle_policy::suggest::cidr_entry(*ip)
                    )
                };
                let mut b = Block::forbidden(check::SSRF, r, format!("{what}{hint}"));
                b.address = Some(*ip);
                return Err(b);
            }
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// Checks 7-9 for a request whose target passed: header and body DLP,
    /// credential injection, forwarding, streaming the response back.
    pub async fn forward(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        dest: Dest,
        port: u16,
        mut ev: Event,
        allow_rule: String,
    ) -> Response<ProxyBody> {
        let client_upgrade = dest.upgrade.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, incoming) = req.into_parts();
        let creds: Vec<&Cred> = self.creds.iter().filter(|c| c.host == dest.host).collect();
        let skip: Vec<HeaderName> = creds.iter().map(|c| c.header.clone()).collect();
        if let Err(hit) = self.dlp.headers(&parts.headers, &skip, &dest.host) {
            return self.deny(
                &ev,
                &Block::dlp(
                    check::DLP_HEADER,
                    hit,
                    "a request header contains a secret",
                    &dest.host,
                ),
            );
        }
        let limit = self.dlp.scan_limit();
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return self.deny(&ev, &too_large(limit));
        }
        let body_timeout = Duration::from_millis(self.limits.body_timeout_ms);
        let collected =
            tokio::time::timeout(body_timeout, Limited::new(incoming, limit).collect()).await;
        let data: Bytes = match collected {
            Ok(Ok(c)) => c.to_bytes(),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                return self.deny(&ev, &too_large(limit));
            }
            Ok(Err(_)) | Err(_) => {
                return self.deny(
                    &ev,
                    &Block::new(
                        StatusCode::BAD_REQUEST,
                        check::DLP_BODY,
                        rule::BODY_INCOMPLETE,
                        "the request body did not arrive whole",
                    ),
                );
            }
        };
        ev.bytes_up = data.len() as u64;
        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok().map(str::to_string));
        if parts.headers.get(header::CONTENT_ENCODING).is_some() && encoding.is_none() {
            return self.deny(
                &ev,
                &Block::forbidden(
                    check::DLP_BODY,
                    rule::UNDECODABLE,
                    "unreadable Content-Encoding",
                ),
            );
        }
        if let Err(hit) = self.dlp.body(encoding.as_deref(), &data, &dest.host) {
            let b = match hit.rule.as_str() {
                rule::TOO_LARGE => too_large(limit),
                rule::UNDECODABLE => Block::forbidden(
                    check::DLP_BODY,
                    hit.rule,
                    "the request body cannot be decoded for scanning (unknown or corrupt encoding, or still encoded after the last decoding layer)",
                ),
                _ => Block::dlp(
                    check::DLP_BODY,
                    hit,
                    "the request body contains a secret",
                    &dest.host,
                ),
            };
            return self.deny(&ev, &b);
        }

        // The request is clean: build what goes upstream.
        strip_hop_by_hop(&mut parts.headers, dest.upgrade);
        parts
            .headers
            .remove(HeaderName::from_static("proxy-authorization"));
        parts
            .headers
            .remove(HeaderName::from_static("proxy-connection"));
        let default_port = if dest.tls { 443 } else { 80 };
        let host_for_uri = match dest.host.parse::<std::net::Ipv6Addr>() {
            Ok(_) => format!("[{}]", dest.host),
            Err(_) => dest.host.clone(),
        };
        let authority = if port == default_port {
            host_for_uri
        } else {
            format!("{host_for_uri}:{port}")
        };
        let pq = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let scheme = if dest.tls { "https" } else { "http" };
        parts.uri = match Uri::builder()
            .scheme(scheme)
            .authority(authority.as_str())
            .path_and_query(pq)
            .build()
        {
            Ok(u) => u,
            Err(_) => {
                return self.deny(
                    &ev,
                    &Block::new(
                        StatusCode::BAD_REQUEST,
                        check::PARSE,
                        rule::BAD_TARGET,
                        "the request target does not parse",
                    ),
                );
            }
        };
        if let Ok(v) = HeaderValue::from_str(&authority) {
            parts.headers.insert(header::HOST, v);
        }
        for c in &creds {
            parts.headers.insert(c.header.clone(), c.value.clone());
        }
        // A reflected credential is redacted from the response: ask for it
        // uncompressed, so the redactor reads it as it streams.
        let redactor = self.redactors.get(&dest.host).cloned();
        if redactor.is_some() && !dest.upgrade {
            parts.headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        let out = Request::from_parts(parts, Full::new(data));
        let resp = match self.upstreams.send(&dest, out).await {
            Ok(r) => r,
            Err(e) => {
                let b = match e {
                    UpstreamError::Connect(m) => Block::new(
                        StatusCode::BAD_GATEWAY,
                        check::UPSTREAM,
                        rule::CONNECT_FAILED,
                        m,
                    ),
                    UpstreamError::Tls(m) => {
                        Block::new(StatusCode::BAD_GATEWAY, check::UPSTREAM, rule::TLS_ERROR, m)
                    }
                    UpstreamError::Protocol(m) => Block::new(
                        StatusCode::BAD_GATEWAY,
                        check::UPSTREAM,
                        rule::PROTOCOL_ERROR,
                        m,
                    ),
                };
                return self.deny(&ev, &b);
            }
        };
        let mut resp = resp;
        let status = resp.status();
        if let Some(client_upgrade) = client_upgrade
            && status == StatusCode::SWITCHING_PROTOCOLS
        {
            let upstream_upgrade = hyper::upgrade::on(&mut resp);
            let (mut rparts, _) = resp.into_parts();
            if let Some(r) = &redactor {
                r.headers(&mut rparts.headers);
            }
            self.audit
                .log(&ev, true, check::ALLOWED, &allow_rule, status.as_u16(), 0);
            let shared = self.clone();
            tokio::spawn(async move {
                if let (Ok(c), Ok(u)) = (client_upgrade.await, upstream_upgrade.await) {
                    websocket::relay(shared.dlp.clone(), shared.audit.clone(), ev, c, u, redactor)
                        .await;
                }
            });
            return Response::from_parts(rparts, body::empty());
        }
        let (mut rparts, rbody) = resp.into_parts();
        strip_hop_by_hop(&mut rparts.headers, false);
        let Some(redactor) = redactor else {
            let harvest = self.harvest(&dest.host, &rparts.headers);
            let body = AuditedBody::new(rbody, self.audit.clone(), ev, allow_rule, status.as_u16())
                .harvest(harvest);
            return Response::from_parts(rparts, BodyExt::boxed(body));
        };
        // Credential reflection: headers and body with every form of the
        // injected value replaced by the agent's placeholder.
        redactor.headers(&mut rparts.headers);
        let encoded = rparts
            .headers
            .get(header::CONTENT_ENCODING)
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|e| !e.is_empty() && e != "identity");
        let body = AuditedBody::new(
            rbody,
            self.audit.clone(),
            ev.clone(),
            allow_rule,
            status.as_u16(),
        );
        let body: ProxyBody = match encoded {
            None => BodyExt::boxed(body),
            Some(enc) => {
                // Compressed although asked not to be: decode whole
                // (bounded), then redact; what cannot be decoded is refused.
                let limit = self.dlp.scan_limit();
                let timeout = Duration::from_millis(self.limits.body_timeout_ms);
                let got = tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await;
                let plain = match got {
                    Ok(Ok(c)) => bottle_secrets::decompress(&enc, &c.to_bytes(), limit).ok(),
                    _ => None,
                };
                let Some(plain) = plain else {
                    return self.deny(
                        &ev,
                        &Block::new(
                            StatusCode::BAD_GATEWAY,
                            check::UPSTREAM,
                            rule::PROTOCOL_ERROR,
                            format!(
                                "the response of {} is compressed ({enc}) and could not be decoded to check it for a reflected credential",
                                dest.host
                            ),
                        ),
                    );
                };
                rparts.headers.remove(header::CONTENT_ENCODING);
                body::full(plain)
            }
        };
        // Replacements change the length.
        rparts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(rparts, BodyExt::boxed(RedactedBody::new(body, redactor)))
    }

    /// Tokens a response issues (`Set-Cookie` values, a JSON body's values)
    /// may go back to its site (`dlp::Issued`). Not for a credential's host
    /// (its responses may carry the injected value before redaction).
    fn harvest(&self, host: &str, headers: &http::HeaderMap) -> Option<body::Harvest> {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.as_bytes()
                    .windows(4)
                    .any(|w| w.eq_ignore_ascii_case(b"json"))
            });
        let cookies = headers.contains_key(header::SET_COOKIE);
        if !json && !cookies {
            return None;
        }
        let issued = self.dlp.issued_for(host)?;
        for v in headers.get_all(header::SET_COOKIE) {
            issued.harvest(v.as_bytes());
            issued.harvest(b"\n");
        }
        let encoding = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty() && e != "identity");
        json.then(|| body::Harvest::new(issued, encoding))
    }
}

/// Hide the labels below the registrable domain (they are the payload of a
/// DNS-exfiltration or URL-DLP hit).
pub(crate) fn redact_host(host: &str) -> String {
    match bottle_policy::registrable_domain(host) {
        Some(reg) if reg.len() < host.len() => format!("[redacted].{reg}"),
        _ => host.to_string(),
    }
}

/// Connection-level headers never cross the proxy (RFC 9110 §7.6.1), except
/// the upgrade handshake of an allowed WebSocket.
fn strip_hop_by_hop(h: &mut http::HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == header::UPGRADE))
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        HeaderName::from_static("keep-alive"),
    ] {
        h.remove(n);
    }
    if keep_upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        // No extensions: a compressed (permessage-deflate) message could not
        // be scanned, so none is negotiated.
        h.remove(header::SEC_WEBSOCKET_EXTENSIONS);
    } else {
        h.remove(header::CONNECTION);
        h.remove(header::UPGRADE);
    }
}
