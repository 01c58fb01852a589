//! Every decision the proxy can take, as stable strings.
//!
//! A block is named by a *check* and a *rule*. The pair appears verbatim in
//! the 403 body, in the `X-Bottle-Block: <check>:<rule>` header and in the
//! audit log, so scripts (and `bottle why`) can rely on them. Rename nothing
//! here without a changelog entry. DLP blocks by the scanner use its rule id
//! as the rule (`dlp-body:github-pat`), so those rules are not listed here;
//! the proxy's own data rules (`card-number`, `iban`, `crypto-*`, `jwt`,
//! `bearer-token`) are.

/// Check names, in the order the proxy applies them.
pub mod check {
    /// Parsing and normalising the request target.
    pub const PARSE: &str = "parse";
    /// Host, port, method and path allowlist.
    pub const ALLOWLIST: &str = "allowlist";
    /// Secret scanning of the URL (path, query, host labels joined).
    pub const DLP_URL: &str = "dlp-url";
    /// DNS-exfiltration shape of the host name.
    pub const DNS_EXFIL: &str = "dns-exfil";
    /// Name resolution (our own resolver).
    pub const RESOLVE: &str = "resolve";
    /// Address check after resolution.
    pub const SSRF: &str = "ssrf";
    /// TLS interception: ClientHello, SNI, inner Host / :authority.
    pub const TLS: &str = "tls";
    /// Secret scanning of request headers.
    pub const DLP_HEADER: &str = "dlp-header";
    /// Secret scanning of request bodies.
    pub const DLP_BODY: &str = "dlp-body";
    /// Secret scanning of WebSocket messages (agent to upstream).
    pub const DLP_WEBSOCKET: &str = "dlp-websocket";
    /// Connecting to, or talking with, the upstream.
    pub const UPSTREAM: &str = "upstream";
    /// Not a check: the `check` field of allowed decisions.
    pub const ALLOWED: &str = "allowed";
}

/// Rules of the non-DLP checks.
pub mod rule {
    // parse
    /// An origin-form request that is not the health endpoint.
    pub const NOT_A_PROXY_REQUEST: &str = "not-a-proxy-request";
    /// The target URI or authority does not parse.
    pub const BAD_TARGET: &str = "bad-target";
    /// A scheme other than http (absolute-form) or a CONNECT.
    pub const BAD_SCHEME: &str = "bad-scheme";
    /// The host is neither a valid name nor an IP literal.
    pub const BAD_HOST: &str = "bad-host";

    // allowlist
    /// No rule names this host.
    pub const HOST_NOT_ALLOWED: &str = "host-not-allowed";
    /// A rule names the host, but not on this port.
    pub const PORT_NOT_ALLOWED: &str = "port-not-allowed";
    /// Host and port are allowed, but not this method or path.
    pub const METHOD_OR_PATH_NOT_ALLOWED: &str = "method-or-path-not-allowed";

    /// Not a block: the `rule` of requests learn mode let through that the
    /// allowlist would refuse.
    pub const LEARNED: &str = "learned";

    // dlp-url
    /// A long, random-looking (opaque) run in a path segment or query value.
    pub const HIGH_ENTROPY_VALUE: &str = "high-entropy-value";

    // dlp-url / dlp-header / dlp-body / dlp-websocket: financial and
    // personal data (the proxy's own rules, next to the scanner's ids)
    /// A payment card number (brand prefix and length, Luhn, grouping or a
    /// card keyword).
    pub const CARD_NUMBER: &str = "card-number";
    /// An IBAN (country length, mod-97).
    pub const IBAN: &str = "iban";
    /// A US Social Security number (`123-45-6789`, or nine digits after an
    /// SSN keyword; area, group and serial valid).
    pub const SSN: &str = "ssn";
    /// A US bank (ABA) routing number: nine digits, 3-7-1 checksum, a
    /// routing keyword before.
    pub const BANK_ROUTING_NUMBER: &str = "bank-routing-number";
    /// A crypto-wallet private key in WIF (base58check).
    pub const CRYPTO_WIF_KEY: &str = "crypto-wif-key";
    /// A BIP-39 seed phrase (checksum valid).
    pub const CRYPTO_SEED_PHRASE: &str = "crypto-seed-phrase";
    /// 64 hex digits next to a private-key keyword or assigned to a short
    /// key name (`pk=`).
    pub const CRYPTO_PRIVATE_KEY: &str = "crypto-private-key";
    /// A crypto-wallet address (base58check or bech32 checksum).
    pub const CRYPTO_ADDRESS: &str = "crypto-address";
    /// An Ethereum address (`0x` + 40 hex): mixed case with a valid EIP-55
    /// checksum, or one case next to an address keyword.
    pub const CRYPTO_ETH_ADDRESS: &str = "crypto-eth-address";

    /// A JSON Web Token inside a WebSocket message.
    pub const JWT: &str = "jwt";
    /// A `Bearer <token>` value inside a WebSocket message.
    pub const BEARER_TOKEN: &str = "bearer-token";

    // dns-exfil
    /// A long label with high character entropy.
    pub const HIGH_ENTROPY_LABEL: &str = "high-entropy-label";
    /// A long hex-shaped label.
    pub const HEX_LABEL: &str = "hex-label";
    /// A long base32-shaped label.
    pub const BASE32_LABEL: &str = "base32-label";
    /// Data chunked across several long labels.
    pub const CHUNKED_LABELS: &str = "chunked-labels";
    /// A wildcard's budget of distinct names is spent (each new name's
    /// lookup reaches the zone's nameserver).
    pub const TOO_MANY_NAMES: &str = "too-many-names";

    // resolve
    /// The name did not resolve (or resolved to nothing).
    pub const NO_ADDRESS: &str = "no-address";

    // ssrf
    /// 127.0.0.0/8, ::1.
    pub const LOOPBACK: &str = "loopback";
    /// RFC 1918, unique-local IPv6.
    pub const PRIVATE: &str = "private";
    /// 169.254.0.0/16, fe80::/10.
    pub const LINK_LOCAL: &str = "link-local";
    /// 100.64.0.0/10.
    pub const CGNAT: &str = "cgnat";
    /// Multicast.
    pub const MULTICAST: &str = "multicast";
    /// Cloud metadata services.
    pub const METADATA: &str = "metadata";
    /// 0.0.0.0/8, ::.
    pub const UNSPECIFIED: &str = "unspecified";
    /// Broadcast, reserved, documentation, benchmarking and other special ranges.
    pub const RESERVED: &str = "reserved";

    // tls
    /// The client sent something other than a TLS ClientHello after CONNECT.
    pub const NOT_TLS: &str = "not-tls";
    /// The ClientHello did not parse or did not arrive in time.
    pub const BAD_CLIENT_HELLO: &str = "bad-client-hello";
    /// The ClientHello's SNI differs from the CONNECT host.
    pub const SNI_MISMATCH: &str = "sni-mismatch";
    /// No SNI although the CONNECT host is a name.
    pub const SNI_MISSING: &str = "sni-missing";
    /// The TLS handshake with the client failed (it does not trust the
    /// bottle CA, or broke off).
    pub const HANDSHAKE_FAILED: &str = "handshake-failed";
    /// An inner request's Host or :authority differs from the CONNECT host.
    pub const HOST_MISMATCH: &str = "host-mismatch";

    // dlp-body / dlp-websocket
    /// The body (or a WebSocket message) exceeds the scan limit.
    pub const TOO_LARGE: &str = "too-large";
    /// The body cannot be decoded (unknown or corrupt content encoding).
    pub const UNDECODABLE: &str = "undecodable";
    /// The request body did not arrive in time or the client broke it off.
    pub const BODY_INCOMPLETE: &str = "body-incomplete";

    // upstream
    /// TCP connect failed or timed out.
    pub const CONNECT_FAILED: &str = "connect-failed";
    /// The upstream's TLS certificate is not trusted, or the handshake failed.
    pub const TLS_ERROR: &str = "tls-error";
    /// The upstream broke the HTTP exchange.
    pub const PROTOCOL_ERROR: &str = "protocol-error";
}

/// The TLS mode field of audit lines.
pub mod tls_mode {
    /// The tunnel was terminated and re-encrypted by the proxy.
    pub const INTERCEPTED: &str = "intercepted";
    /// The tunnel was relayed as is (passthrough host).
    pub const PASSTHROUGH: &str = "passthrough";
    /// Plain HTTP, or a CONNECT refused before TLS.
    pub const NONE: &str = "none";
}

/// The `X-Bottle-Block` header name.
pub const BLOCK_HEADER: &str = "x-bottle-block";

/// The health endpoint's path (origin-form `GET` on the proxy port).
pub const HEALTH_PATH: &str = "/__bottle/health";
