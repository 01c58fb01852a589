//! Deterministic inputs of the gitleaks-compatibility fixtures. The same
//! code writes them for the recording script (`examples/gitleaks_fixture_inputs.rs`)
//! and for the test, so the secrets are generated, never committed.

use bottle_secrets::{SampleRng, render_template};

/// One fixture case: its name (a directory under tests/fixtures/gitleaks
/// holding `gitleaks.toml` and `expected.json`) and its input files.
pub struct Case {
    pub name: &'static str,
    pub files: Vec<(String, String)>,
}

fn t(rng: &mut SampleRng, template: &str) -> String {
    render_template(template, rng).text
}

pub fn cases() -> Vec<Case> {
    let mut rng = SampleRng::new(0x9e11_ea45);
    let r = &mut rng;
    let mut out = Vec::new();

    // Custom rules: secretGroup, no group, entropy, keywords, path-only,
    // path + regex, gitleaks:allow.
    out.push(Case {
        name: "custom-rules",
        files: vec![
            ("src/app.py".into(), format!(
                "import os\n\nAPI = \"acme_{}\"\nLOW = \"acme_aaaaaaaaaaaaaaaaaaaa\"\nskip = \"acme_{}\"  # gitleaks:allow\n\ndef f():\n    return 'order-{}-{}'\n",
                t(r, "{x:20}"), t(r, "{x:20}"), t(r, "{d:6}"), t(r, "{A:12}"))),
            ("src/no_keyword.txt".into(), format!("there is no marker word here: q{}\n", t(r, "{d:6}"))),
            ("config/prod.env".into(), format!(
                "DB_HOST=db\nWIDGET_TOKEN={}\nWIDGET_TOKEN=short\nwidget_token = {}\n",
                t(r, "{h:32}"), t(r, "{h:32}"))),
            ("docs/notes.md".into(), format!("# notes\nkey pair: pair:{}:{}\n", t(r, "{l:8}"), t(r, "{x:24}"))),
            ("certs/server.p12".into(), "not really a keystore\n".into()),
            ("certs/readme.txt".into(), "keystores live here\n".into()),
            ("deploy/values.yaml".into(), format!("image: app\ndeploy_secret: {}\n", t(r, "{x:24}"))),
            ("other/values.yaml".into(), format!("deploy_secret: {}\n", t(r, "{x:24}"))),
        ],
    });

    // Allowlists: per-rule (regexes on secret / match / line, stopwords,
    // paths, AND condition), global with targetRules, legacy [allowlist].
    out.push(Case {
        name: "allowlists",
        files: vec![
            ("a/keys.txt".into(), format!(
                "k1 = tkn_{}\nk2 = tkn_TEST{}\nk3 = tkn_{}  # rotate later\nk4 = tkn_{}dummy{}\nfixture k5 = tkn_{}\n",
                t(r, "{a:24}"), t(r, "{a:20}"), t(r, "{a:24}"), t(r, "{a:8}"), t(r, "{a:11}"), t(r, "{a:24}"))),
            ("testdata/keys.txt".into(), format!("k6 = tkn_{}\nk7 = tkn_{}\n", t(r, "{a:24}"), t(r, "{a:24}"))),
            ("b/pw.txt".into(), format!(
                "password: pw_{}\npassword: pw_{}\npassword: pw_{}\n",
                t(r, "{x:16}"), t(r, "{x:16}"), t(r, "{x:16}"))),
            ("b/ignored/pw.txt".into(), format!("password: pw_{}\n", t(r, "{x:16}"))),
            ("c/mixed.txt".into(), format!(
                "id_{} and tkn_{}\nid_{}\n",
                t(r, "{d:10}"), t(r, "{a:24}"), t(r, "{d:10}"))),
        ],
    });

    // [extend] useDefault: built-in rules with gitleaks' ids, one disabled,
    // one extended with an allowlist, plus a custom rule.
    out.push(Case {
        name: "extend-default",
        files: vec![
            (
                "ci/deploy.sh".into(),
                format!(
                    "#!/bin/sh\nexport GH={}\nexport AWS_ID={}\ncurl -s https://example.test/\n",
                    t(r, "ghp_{x:36}"),
                    t(r, "AKIA{B:16}")
                ),
            ),
            (
                "ci/more.sh".into(),
                format!(
                    "GL={}\nGH2={}\nGH_FIXTURE={}\n",
                    t(r, "glpat-{x:20}"),
                    t(r, "ghp_{x:36}"),
                    t(r, "ghp_0000{x:32}")
                ),
            ),
            (
                "svc/keys.txt".into(),
                format!("internal {}\n", t(r, "corp-{a:24}")),
            ),
            (
                "svc/slack.txt".into(),
                format!("hook {}\n", t(r, "xoxb-{d:12}-{d:13}-{x:24}")),
            ),
        ],
    });

    // [extend] path with disabledRules and rule merging.
    out.push(Case {
        name: "extend-path",
        files: vec![
            (
                "x/one.txt".into(),
                format!(
                    "alpha_{}\nbeta_{}\ngamma_{}\n",
                    t(r, "{h:20}"),
                    t(r, "{h:20}"),
                    t(r, "{h:20}")
                ),
            ),
            (
                "x/two.txt".into(),
                format!("ALPHA_{}\nmarker beta_{}\n", t(r, "{h:20}"), t(r, "{h:20}")),
            ),
            ("y/skip.txt".into(), format!("alpha_{}\n", t(r, "{h:20}"))),
        ],
    });

    // Go RE2 syntax that differs from Rust's: \Q..\E, literal \< \>,
    // POSIX classes, ASCII-only \w and \b, (?i), named groups.
    out.push(Case {
        name: "re2-syntax",
        files: vec![
            (
                "r/a.txt".into(),
                format!(
                    "token=<{}>\nlit a.b+{}\nLIT A.B+{}\nnot aXb+{}\n",
                    t(r, "{x:12}"),
                    t(r, "{d:8}"),
                    t(r, "{d:8}"),
                    t(r, "{d:8}")
                ),
            ),
            (
                "r/b.txt".into(),
                format!(
                    "pfx:{} pfx:é{} name=val_{}\n",
                    t(r, "{l:10}"),
                    t(r, "{l:10}"),
                    t(r, "{x:10}")
                ),
            ),
        ],
    });
    out
}

/// Write a case's files under `dir`.
#[allow(dead_code)]
pub fn write_case(case: &Case, dir: &std::path::Path) -> std::io::Result<()> {
    for (path, content) in &case.files {
        let p = dir.join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(p, content)?;
    }
    Ok(())
}
