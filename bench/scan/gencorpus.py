#!/usr/bin/env python3
"""Generate the secret-scanner benchmark corpus under OUT:

  OUT/dir/benign/...   realistic text full of high-entropy non-secrets
                       (lockfiles, go.sum, Cargo.lock, base64 images, minified
                       JS, UUIDs, hashes, ordinary code). Every finding here is
                       a false positive.
  OUT/dir/planted/...  source and config files with planted secrets of known
                       types; OUT/planted-dir.json lists (path, line, type).
  OUT/dir/benign/docs  a placeholder and a documentation example for every
                       built-in rule (from BENCH_PLACEHOLDERS, the JSON the
                       bottle-secrets example `bench_placeholders` prints)
  OUT/dir/benign/vectors  crypto libraries' test-vector files (hex keys in
                       NIST .rsp, BoringSSL, Go and Python test files)
  OUT/dense/...        JSON of 1, 3 and 10 MB with a token every ~150 bytes,
                       once on one line and once a record per line;
                       OUT/planted-dense.json lists (path, line, col, type)
  OUT/repo             a git history of COMMITS commits (default 2500) mixing
                       the same kinds of content; OUT/planted-git.json lists
                       (commit, path, line, type) of the planted secrets.

Secrets are generated here, at run time, from the public token formats; the
corpus lives in a temp dir and is never committed.
"""

import base64
import json
import os
import random
import string
import subprocess
import sys

ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "_-"
B64 = ALNUM + "+/"
HEX = "0123456789abcdef"
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
BECH = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"

R = random.Random(20261123)


def rs(chars, n):
    s = "".join(R.choice(chars) for _ in range(n))
    # Mixed alphabets: make sure a digit and a letter occur (real tokens
    # almost always have both; entropy-gated rules need it).
    if n >= 8 and any(c.isdigit() for c in chars) and not any(c.isdigit() for c in s):
        i = R.randrange(n)
        s = s[:i] + R.choice([c for c in chars if c.isdigit()]) + s[i + 1:]
    return s


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def pem():
    body = base64.b64encode(R.randbytes(1190)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END RSA PRIVATE KEY-----"


def jwt():
    header = b64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = b64url(json.dumps({"sub": rs(string.digits, 10), "name": rs(string.ascii_lowercase, 8),
                                 "iat": 1700000000 + R.randrange(10**7)}).encode())
    return f"{header}.{payload}.{b64url(R.randbytes(32))}"


def password():
    return rs(ALNUM + "!#%^*-_", 22)


# type -> (secret generator, context templates; {s} is the secret)
SECRETS = {
    "github-pat": (lambda: "ghp_" + rs(ALNUM, 36),
                   ['GITHUB_TOKEN={s}', '    token: "{s}"', 'gh_token = "{s}"']),
    "github-fine-grained-pat": (lambda: "github_pat_" + rs(ALNUM, 22) + "_" + rs(ALNUM, 59),
                                ['export GH_PAT={s}', '  "token": "{s}",']),
    "gitlab-pat": (lambda: "glpat-" + rs(URLSAFE, 20), ['GITLAB_TOKEN="{s}"', 'private_token: {s}']),
    "aws-access-key-id": (lambda: "AKIA" + rs(B32, 16),
                          ['aws_access_key_id = {s}', 'AWS_ACCESS_KEY_ID="{s}"']),
    "aws-secret-access-key": (lambda: rs(B64, 40),
                              ['aws_secret_access_key = {s}', 'AWS_SECRET_ACCESS_KEY="{s}"']),
    "slack-bot-token": (lambda: f"xoxb-{rs(string.digits, 12)}-{rs(string.digits, 13)}-{rs(ALNUM, 24)}",
                        ['SLACK_BOT_TOKEN={s}', '  slack_token: "{s}"']),
    "slack-webhook-url": (lambda: f"https://hooks.slack.com/services/T{rs(B32, 8)}/B{rs(B32, 8)}/{rs(ALNUM, 24)}",
                          ['webhook_url = "{s}"', 'SLACK_WEBHOOK={s}']),
    "stripe-secret-key": (lambda: "sk_live_" + rs(ALNUM, R.choice([24, 99])),
                          ['STRIPE_SECRET_KEY={s}', 'stripe.api_key = "{s}"']),
    "sendgrid-api-key": (lambda: f"SG.{rs(URLSAFE, 22)}.{rs(URLSAFE, 43)}",
                         ['SENDGRID_API_KEY="{s}"', "sg = SendGridAPIClient('{s}')"]),
    "npm-token": (lambda: "npm_" + rs(ALNUM, 36), ['//registry.npmjs.org/:_authToken={s}', 'NPM_TOKEN={s}']),
    "pypi-token": (lambda: "pypi-AgEIcHlwaS5vcmc" + rs(URLSAFE, 120), ['password = {s}', 'TWINE_PASSWORD={s}']),
    "openai-api-key": (lambda: "sk-proj-" + rs(URLSAFE, 74) + "T3BlbkFJ" + rs(URLSAFE, 74),
                       ['OPENAI_API_KEY={s}', 'client = OpenAI(api_key="{s}")']),
    "anthropic-api-key": (lambda: "sk-ant-api03-" + rs(URLSAFE, 93) + "AA",
                          ['ANTHROPIC_API_KEY={s}', '  "anthropic_key": "{s}",']),
    "huggingface-token": (lambda: "hf_" + rs(string.ascii_letters, 34), ['HF_TOKEN={s}', 'login(token="{s}")']),
    "google-api-key": (lambda: "AIza" + rs(URLSAFE, 35), ['GOOGLE_API_KEY={s}', '  apiKey: "{s}",']),
    "twilio-api-key": (lambda: "SK" + rs(HEX, 32), ['TWILIO_API_KEY={s}', 'twilio_key = "{s}"']),
    "mailchimp-api-key": (lambda: rs(HEX, 32) + "-us" + str(R.randrange(1, 21)),
                          ['MAILCHIMP_API_KEY={s}', 'mailchimp_key: "{s}"']),
    "digitalocean-pat": (lambda: "dop_v1_" + rs(HEX, 64), ['DIGITALOCEAN_TOKEN={s}', 'do_token = "{s}"']),
    "shopify-access-token": (lambda: "shpat_" + rs(HEX, 32), ['SHOPIFY_TOKEN={s}', 'shopify_token: "{s}"']),
    "age-secret-key": (lambda: "AGE-SECRET-KEY-1" + rs(BECH, 58), ['{s}', '# key: {s}']),
    "databricks-token": (lambda: "dapi" + rs(HEX, 32), ['DATABRICKS_TOKEN={s}', 'token = "{s}"']),
    "sentry-user-token": (lambda: "sntryu_" + rs(HEX, 64), ['SENTRY_AUTH_TOKEN={s}']),
    "doppler-token": (lambda: "dp.pt." + rs(ALNUM, 43), ['DOPPLER_TOKEN={s}']),
    "grafana-service-account-token": (lambda: f"glsa_{rs(ALNUM, 32)}_{rs(HEX, 8)}", ['GRAFANA_TOKEN={s}']),
    "vault-token": (lambda: "hvs." + rs(URLSAFE, 95), ['VAULT_TOKEN={s}', 'vault_token: "{s}"']),
    "telegram-bot-token": (lambda: f"{rs(string.digits, 10)}:AA{rs(URLSAFE, 33)}", ['TELEGRAM_BOT_TOKEN={s}']),
    "private-key": (pem, ['{s}']),
    "jwt": (jwt, ['Authorization: Bearer {s}', 'const token = "{s}";']),
    "generic-password": (password, ['DB_PASSWORD="{s}"', 'db_password: "{s}"', 'SMTP_PASSWORD={s}']),
    "url-password": (lambda: password(), ['DATABASE_URL=postgres://app:{s}@db.prod.internal:5432/app',
                                          'redis_url: "redis://default:{s}@cache.prod.internal:6379/0"']),
}


def ident():
    return R.choice(["user", "order", "item", "cart", "session", "request", "payload", "config", "cache",
                     "index", "buffer", "reader", "client", "handler", "result", "value", "entry", "node"]) + \
        R.choice(["", "_id", "_count", "Name", "_map", "List", "_ref", "_key", "_token", "Id"])


def code_line():
    """Ordinary code, including scanner keywords used innocently."""
    t = R.randrange(24)
    a, b = ident(), ident()
    return [
        f"    let {a} = {b}.get(&key).cloned().unwrap_or_default();",
        f"    def {a}(self, {b}):\n        return self._{b}.get({b!r})",
        f"  const {a} = await fetch(`/api/v1/{b}/${{id}}`);",
        f"    if err := validate{a.title()}(ctx, {b}); err != nil {{ return err }}",
        f"// {a} is derived from {b}; see the design notes for why",
        f"    token = lexer.next_token()  # advance the {a} parser",
        f"    cache_key = f\"{{{a}}}:{{{b}}}\"",
        f"    secret_name = \"{a}-credentials\"  # name of the k8s secret, not its value",
        f"    password_field = form.get(\"password\")",
        f"    auth_header = request.headers.get(\"Authorization\")",
        f"    api_key_env = os.environ.get(\"{a.upper()}_API_KEY\")",
        f"    for (i, {a}) in {b}.iter().enumerate() {{",
        f"        total += {a}.len() * {R.randrange(1, 99)};",
        f"import {{ {a}, {b} }} from './{a}';",
        f"    logger.info(\"processed %d {a} in %s\", n, elapsed)",
        f"    {a}.set_timeout(Duration::from_secs({R.randrange(1, 300)}));",
        "    }",
        "",
        f"    return {a} == nil",
        f"    assert_eq!({a}.len(), {R.randrange(100)});",
        f"  \"{a}\": {R.randrange(10**6)},",
        f"    self.{a} = {b}",
        f"    private_key_path = \"/etc/ssl/private/{a}.pem\"",
        f"    tokenizer = AutoTokenizer.from_pretrained(\"{a}\")",
    ][t]


def uuid():
    h = R.randbytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def benign_block(kind):
    """One chunk of a benign file of the given kind."""
    if kind == "package-lock":
        name = ident().lower().replace("_", "-")
        ver = f"{R.randrange(9)}.{R.randrange(30)}.{R.randrange(30)}"
        integ = base64.b64encode(R.randbytes(64)).decode()
        return (f'    "node_modules/{name}": {{\n      "version": "{ver}",\n'
                f'      "resolved": "https://registry.npmjs.org/{name}/-/{name}-{ver}.tgz",\n'
                f'      "integrity": "sha512-{integ}",\n      "dev": true\n    }},\n')
    if kind == "go.sum":
        mod = f"github.com/{ident().lower()}/{ident().lower()}"
        v = f"v{R.randrange(3)}.{R.randrange(40)}.{R.randrange(20)}"
        return (f"{mod} {v} h1:{base64.b64encode(R.randbytes(32)).decode()}\n"
                f"{mod} {v}/go.mod h1:{base64.b64encode(R.randbytes(32)).decode()}\n")
    if kind == "cargo.lock":
        return (f'[[package]]\nname = "{ident().lower()}"\nversion = "{R.randrange(3)}.{R.randrange(20)}.{R.randrange(9)}"\n'
                f'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
                f'checksum = "{R.randbytes(32).hex()}"\n\n')
    if kind == "image":
        data = base64.b64encode(R.randbytes(R.randrange(2000, 12000))).decode()
        return f'.icon-{ident().lower()} {{ background-image: url("data:image/png;base64,{data}"); }}\n'
    if kind == "markdown-image":
        data = base64.b64encode(R.randbytes(R.randrange(3000, 9000))).decode()
        return f"\n![diagram](data:image/png;base64,{data})\n\nThe {ident()} flow is shown above.\n"
    if kind == "minjs":
        parts = []
        for _ in range(400):
            t = R.randrange(6)
            if t == 0:
                parts.append(f'var {rs(string.ascii_letters, 2)}="{rs(ALNUM, R.randrange(4, 30))}";')
            elif t == 1:
                parts.append(f"function {rs(string.ascii_letters, 1)}({rs(string.ascii_lowercase, 1)}){{return {rs(string.ascii_lowercase, 1)}&&{rs(string.ascii_lowercase, 1)}.{ident()}}}")
            elif t == 2:
                parts.append(f'{rs(string.ascii_letters, 1)}.{ident()}="#{rs(HEX, 6)}";')
            elif t == 3:
                parts.append(f'{rs(string.ascii_letters, 1)}["{uuid()}"]={R.randrange(10**9)};')
            elif t == 4:
                parts.append(f'{rs(string.ascii_letters, 2)}.key="{rs(string.ascii_lowercase, 6)}";')
            else:
                parts.append(f"{rs(string.ascii_letters, 1)}=0x{rs(HEX, 8)}|{R.randrange(256)};")
        return "".join(parts) + "\n"
    if kind == "ids":
        return (f'  {{"id": "{uuid()}", "request_id": "{uuid()}", "trace_id": "{R.randbytes(16).hex()}",\n'
                f'   "sha256": "{R.randbytes(32).hex()}", "commit": "{R.randbytes(20).hex()}",\n'
                f'   "etag": "W/\\"{R.randbytes(8).hex()}\\"", "created": "2024-0{R.randrange(1, 9)}-1{R.randrange(9)}T10:00:00Z"}},\n')
    if kind == "checksums":
        return f"{R.randbytes(32).hex()}  dist/{ident()}-{R.randrange(9)}.{R.randrange(9)}.tar.gz\n"
    # code
    return "\n".join(code_line() for _ in range(40)) + "\n"


BENIGN_KINDS = [
    ("code", ".rs"), ("code", ".py"), ("code", ".go"), ("code", ".ts"),
    ("package-lock", "package-lock.json"), ("go.sum", "go.sum"), ("cargo.lock", "Cargo.lock"),
    ("image", ".css"), ("markdown-image", ".md"), ("minjs", ".min.js"), ("ids", ".json"), ("checksums", "SHA256SUMS"),
]


def fname(suffix):
    if "." not in suffix or suffix in ("package-lock.json", "Cargo.lock", "go.sum"):
        return suffix
    return ident() + suffix


def write_benign(root, total_bytes):
    written = 0
    n = 0
    while written < total_bytes:
        kind, suffix = R.choice(BENIGN_KINDS)
        target = R.randrange(20_000, 400_000)
        chunks = []
        size = 0
        while size < target:
            c = benign_block(kind)
            chunks.append(c)
            size += len(c)
        d = os.path.join(root, f"pkg{n // 50:03d}", f"m{n:05d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, fname(suffix)), "w") as f:
            f.write("".join(chunks))
        written += size
        n += 1
    return written


def planted_file_text(types):
    """Code with secrets of the given types at random places; returns the
    text and [(line, type)]."""
    lines = []
    planted = []
    for t in types:
        for _ in range(R.randrange(30, 400)):
            lines.extend(code_line().split("\n"))
        gen, ctxs = SECRETS[t]
        s = gen()
        text = R.choice(ctxs).format(s=s)
        planted.append((len(lines) + 1, t))
        lines.extend(text.split("\n"))
    for _ in range(R.randrange(30, 300)):
        lines.extend(code_line().split("\n"))
    return "\n".join(lines) + "\n", planted


def write_planted(root, total_bytes):
    manifest = []
    written = 0
    n = 0
    names = ["settings.py", "config.yaml", ".env", "deploy.sh", "main.go", "app.ts", "lib.rs", "values.json"]
    types = list(SECRETS)
    while written < total_bytes:
        k = R.randrange(1, 4)
        text, planted = planted_file_text([R.choice(types) for _ in range(k)])
        rel = os.path.join(f"svc{n // 40:03d}", f"s{n:05d}", R.choice(names))
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
        for line, t in planted:
            manifest.append({"path": os.path.join("planted", rel), "line": line, "type": t})
        written += len(text)
        n += 1
    return written, manifest


def git_history(repo, commits, out_manifest):
    """Build the history with git fast-import (one process, fast)."""
    os.makedirs(repo, exist_ok=True)
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL="/dev/null")
    subprocess.run(["git", "init", "-q", "-b", "main", repo], check=True, env=env)
    fi = subprocess.Popen(["git", "-C", repo, "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env)
    files = {}  # path -> list of lines (current content)
    kinds = {}  # path -> content kind (matches the file name)
    planted = []  # (mark, path, line, type)
    types = list(SECRETS)
    added_bytes = 0

    def data(b):
        fi.stdin.write(f"data {len(b)}\n".encode())
        fi.stdin.write(b)
        fi.stdin.write(b"\n")

    for i in range(1, commits + 1):
        changes = []
        for _ in range(R.randrange(1, 4)):
            plant = R.random() < 0.12
            if plant:
                # Secrets leak into code and config, not into lockfiles or
                # generated assets (gitleaks skips those paths by design).
                path = f"src/{ident()}{i % 97}/" + R.choice(["settings.py", "config.yaml", ".env", "main.go", "app.ts"])
                if path in changes:
                    continue
                files.setdefault(path, [])
                kinds.setdefault(path, "code")
            elif files and R.random() < 0.6:
                path = R.choice(list(files))
                if path in changes:
                    continue
            else:
                kind, suffix = R.choice(BENIGN_KINDS)
                path = f"src/{ident()}{i % 97}/{fname(suffix)}"
                files.setdefault(path, [])
                kinds.setdefault(path, kind)
            cur = files[path]
            # Append new content at a random position.
            pos = R.randrange(len(cur) + 1)
            if plant:
                t = R.choice(types)
                gen, ctxs = SECRETS[t]
                new = R.choice(ctxs).format(s=gen()).split("\n")
                planted.append((i, path, pos + 1, t))
            else:
                kind = kinds[path]
                target = R.randrange(4_000, 40_000)
                text = ""
                while len(text) < target:
                    text += benign_block(kind)
                new = text.split("\n")
                new = [l for l in new if l] or ["// empty"]
            # Planted lines must stay where recorded: only insert after
            # them in later commits (shift the recorded line otherwise).
            cur[pos:pos] = new
            added_bytes += sum(len(l) + 1 for l in new)
            changes.append(path)
        fi.stdin.write(f"commit refs/heads/main\nmark :{i}\n".encode())
        fi.stdin.write(f"committer Bench <bench@example.test> {1700000000 + i * 60} +0000\n".encode())
        data(f"change {i}: update {len(changes)} file(s)".encode())
        if i > 1:
            fi.stdin.write(f"from :{i - 1}\n".encode())
        for path in set(changes):
            body = ("\n".join(files[path]) + "\n").encode()
            fi.stdin.write(f"M 100644 inline {path}\n".encode())
            data(body)
    fi.stdin.close()
    if fi.wait() != 0:
        sys.exit("git fast-import failed")
    # Map marks to commit ids.
    log = subprocess.run(["git", "-C", repo, "rev-list", "--reverse", "main"], check=True,
                         capture_output=True, text=True).stdout.split()
    assert len(log) == commits, (len(log), commits)
    manifest = [{"commit": log[m - 1], "path": p, "line": l, "type": t} for (m, p, l, t) in planted]
    with open(out_manifest, "w") as f:
        json.dump(manifest, f)
    return added_bytes, len(manifest)


def write_placeholders(root, path):
    """A placeholder and a documentation example per built-in rule, in a
    few kinds of documentation and sample-config files."""
    if not path:
        return 0
    entries = json.load(open(path))
    suffixes = ["README.md", "setup.md", ".env.sample", "settings.example.py", "values.yaml"]
    os.makedirs(root, exist_ok=True)
    written = 0
    for i in range(0, len(entries), 20):
        group = entries[i:i + 20]
        suffix = suffixes[(i // 20) % len(suffixes)]
        lines = []
        for e in group:
            lines.append(f"# {e['role']} for {e['rule']}: replace with your own value")
            lines.append(e["text"])
            lines.append("")
        text = "\n".join(lines) + "\n"
        with open(os.path.join(root, f"d{i // 20:03d}-{suffix}"), "w") as f:
            f.write(text)
        written += len(text)
    return written


def hx(n):
    return R.randbytes(n).hex()


def write_vectors(root):
    """Test-vector files as crypto libraries ship them."""
    files = {}
    nist = ["[Keylen = 256]", "[IVlen = 96]", "[PTlen = 128]", "[AADlen = 128]", "[Taglen = 128]", ""]
    for n in range(300):
        nist += [f"Count = {n}", f"Key = {hx(32)}", f"IV = {hx(12)}", f"PT = {hx(16)}",
                 f"AAD = {hx(16)}", f"CT = {hx(16)}", f"Tag = {hx(16)}", ""]
    files["KAT/gcmEncryptExtIV256.rsp"] = nist
    bssl = []
    for n in range(300):
        bssl += [f"KEY: {hx(32)}", f"NONCE: {hx(12)}", f"IN: {hx(R.randrange(8, 64))}",
                 f"AD: {hx(R.randrange(0, 16))}", f"CT: {hx(R.randrange(8, 64))}", f"TAG: {hx(16)}", ""]
    files["crypto/cipher_extra/test/chacha20_poly1305_tests.txt"] = bssl
    go = ["package hmac", "", "var hmacTests = []hmacTest{"]
    for n in range(200):
        go += ["\t{", "\t\tsha256.New,", f"\t\tkey: \"{hx(32)}\",", f"\t\tin: \"{hx(24)}\",",
               f"\t\tout: \"{hx(32)}\",", "\t},"]
    files["src/crypto/hmac/hmac_test.go"] = go + ["}"]
    py = ["import unittest", "", "VECTORS = ["]
    for n in range(200):
        py += [f"    {{\"ikm\": \"{hx(22)}\", \"salt\": \"{hx(13)}\", \"secret\": \"{hx(32)}\",",
               f"     \"private_key\": \"{hx(32)}\", \"okm\": \"{hx(42)}\"}},"]
    files["tests/hazmat/primitives/test_vectors_hkdf.py"] = py + ["]"]
    wy = ['{"algorithm": "X25519", "testGroups": [{"tests": [']
    for n in range(300):
        wy.append(f'  {{"tcId": {n}, "public": "{hx(32)}", "private": "{hx(32)}", "secret_key": "{hx(32)}", "shared": "{hx(32)}", "result": "valid"}},')
    files["testvectors/x25519_test.json"] = wy + ["]}]}"]
    written = 0
    for rel, lines in files.items():
        full = os.path.join(root, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        text = "\n".join(lines) + "\n"
        with open(full, "w") as f:
            f.write(text)
        written += len(text)
    return written


# Token kinds for the dense files: prefix-anchored, 100 characters or fewer.
DENSE_TYPES = ["github-pat", "github-fine-grained-pat", "gitlab-pat", "aws-access-key-id", "slack-bot-token",
               "stripe-secret-key", "sendgrid-api-key", "npm-token", "huggingface-token", "google-api-key",
               "shopify-access-token", "digitalocean-pat", "databricks-token", "sentry-user-token", "doppler-token",
               "grafana-service-account-token", "vault-token"]


def write_dense(root, manifest):
    """JSON with a token every ~150 bytes: 1, 3 and 10 MB, one line and a
    record per line."""
    os.makedirs(root, exist_ok=True)
    written = 0
    for mb in (1, 3, 10):
        for one_line in (True, False):
            name = f"dense-{mb}mb-{'one-line' if one_line else 'per-line'}.json"
            rel = os.path.join("dense", name)
            parts = ["["]
            line, col, size, n = 1, 2, 1, 0
            while size < mb * 1000 * 1000:
                t = DENSE_TYPES[n % len(DENSE_TYPES)]
                tok = SECRETS[t][0]()
                pad = rs(string.ascii_lowercase, max(8, 120 - len(tok)))
                sep = "" if n == 0 else ","
                if not one_line and n > 0:
                    sep = ",\n"
                    line += 1
                    col = 1
                else:
                    col += len(sep)
                head = f'{{"i": {n}, "note": "{pad}", "value": "'
                rec = f'{head}{tok}"}}'
                manifest.append({"path": rel, "line": line, "col": col + len(head), "type": t})
                parts.append(sep + rec)
                col += len(rec)
                size += len(sep) + len(rec)
                n += 1
            text = "".join(parts) + "]\n"
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
            written += len(text)
    return written


def main():
    out = sys.argv[1]
    dir_mib = int(os.environ.get("BENCH_DIR_MIB", "210"))
    commits = int(os.environ.get("BENCH_COMMITS", "2500"))
    benign = write_benign(os.path.join(out, "dir", "benign"), dir_mib * 1024 * 1024 * 7 // 10)
    planted_bytes, manifest = write_planted(os.path.join(out, "dir", "planted"), dir_mib * 1024 * 1024 * 3 // 10)
    with open(os.path.join(out, "planted-dir.json"), "w") as f:
        json.dump(manifest, f)
    added, n_git = git_history(os.path.join(out, "repo"), commits, os.path.join(out, "planted-git.json"))
    # The extensions of issue 11 come last, so the corpus above stays the
    # same for the same seed.
    benign += write_placeholders(os.path.join(out, "dir", "benign", "docs"), os.environ.get("BENCH_PLACEHOLDERS"))
    benign += write_vectors(os.path.join(out, "dir", "benign", "vectors"))
    dense_manifest = []
    dense = write_dense(os.path.join(out, "dense"), dense_manifest)
    with open(os.path.join(out, "planted-dense.json"), "w") as f:
        json.dump(dense_manifest, f)
    print(json.dumps({"benign_bytes": benign, "planted_bytes": planted_bytes, "planted_dir": len(manifest),
                      "dense_bytes": dense, "planted_dense": len(dense_manifest),
                      "commits": commits, "git_added_bytes": added, "planted_git": n_git}))


if __name__ == "__main__":
    main()
