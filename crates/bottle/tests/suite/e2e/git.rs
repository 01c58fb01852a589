//! Git through the gate with the upstream's own URL: clone, fetch (which
//! refreshes from upstream), push (scanned, forwarded when clean).

use super::{Opts, TestBottle, random_alnum, setup, shared_dir, show};
use bottle_testkit::docker::GIT_HOST;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn upstream_url() -> String {
    format!("ssh://git@{GIT_HOST}/srv/git/app.git")
}

#[test]
fn clone_fetch_and_push_with_the_upstreams_own_url_go_through_the_gate() {
    let Some(()) = setup() else { return };
    let (shared, mount) = shared_dir();
    let b = TestBottle::new(
        "git",
        Opts {
            git: true,
            extra: mount,
            ..Opts::default()
        },
    );
    let before = b.up.upstream_head();
    let url = upstream_url();
    // The agent clones and pushes, then waits for the test to change the
    // upstream behind the gate's back, then fetches.
    let script = format!(
        r#"set -e
cd /tmp
git clone -q {url} app
cd app
# The clone keeps the upstream's own URL; git rewrites it on use.
echo "remote=$(git config remote.origin.url)"
echo "rewritten=$(git remote get-url origin)"
echo "cloned=$(git rev-parse HEAD)"
git -c user.name=agent -c user.email=agent@bottle.test commit -q --allow-empty -m 'from the agent'
echo change >> README
git -c user.name=agent -c user.email=agent@bottle.test commit -q -am 'agent change'
git push -q origin main
echo "pushed=$(git rev-parse HEAD)"
for i in $(seq 1 600); do [ -e /shared/go ] && break; sleep 0.1; done
git fetch -q origin
echo "fetched=$(git rev-parse origin/main)""#
    );
    let mut child = b
        .cmd(&["run", "--yes", &b.agent, "--", "bash", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let pushed = loop {
        let line = lines
            .next()
            .expect("the agent ended before pushing")
            .unwrap();
        seen.push(line.clone());
        if let Some(p) = line.strip_prefix("pushed=") {
            break p.to_string();
        }
        assert!(Instant::now() < deadline, "no push: {seen:?}");
    };
    assert_eq!(
        b.up.upstream_head(),
        pushed,
        "the push did not reach the upstream"
    );
    assert_ne!(before, pushed);
    // The gate runs git and ssh (whose connection master outlives the
    // push): an init is PID 1 in its container to reap their orphans.
    let gate_container = format!("bottle-{}-git", b.agent);
    let (ok, out) = bottle_testkit::docker::exec_in(&gate_container, &["cat", "/proc/1/comm"]);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "docker-init", "PID 1 of the git gate");
    // Someone else pushes upstream; the agent's next fetch must see it.
    let (ok, out) = b.up.git_exec(&[
        "bash",
        "-c",
        "set -e; git config --global --add safe.directory '*'; \
         d=$(mktemp -d); git clone -q /srv/git/app.git $d/w; cd $d/w; \
         git -c user.name=other -c user.email=o@upstream.test commit -q --allow-empty -m other; \
         git push -q origin main; chown -R git:git /srv/git; git rev-parse HEAD",
    ]);
    assert!(ok, "upstream commit: {out}");
    let upstream_new = out.trim().lines().last().unwrap().to_string();
    std::fs::write(shared.path().join("go"), "").unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    seen.extend(rest);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}\n{seen:#?}\n{err}");
    assert!(seen.contains(&format!("remote={url}")), "{seen:?}");
    let gate = format!("rewritten=http://bottle-{}-git:8080/origin.git", b.agent);
    assert!(seen.contains(&gate), "{seen:?}");
    assert!(seen.contains(&format!("cloned={before}")), "{seen:?}");
    assert!(
        seen.contains(&format!("fetched={upstream_new}")),
        "{seen:?}\n{err}"
    );
    // The gate's audit log recorded the push.
    let out = b
        .cmd(&["logs", &b.agent, "--git", "--json"])
        .output()
        .unwrap();
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(audit.contains("\"decision\""), "git audit: {}", show(&out));
    b.assert_clean();
}

#[test]
fn a_push_carrying_a_planted_secret_is_rejected_and_the_upstream_is_unchanged() {
    let Some(()) = setup() else { return };
    let mut b = TestBottle::new(
        "gitleak",
        Opts {
            git: true,
            extra: r#"env = { PLANTED = "${E2E_PLANTED}" }"#.into(),
            ..Opts::default()
        },
    );
    let token = format!("{}_{}", "ghp", random_alnum(36));
    b.env.push(("E2E_PLANTED".into(), token.clone()));
    let before = b.up.upstream_head();
    let out = b.run(&format!(
        r#"set -e
cd /tmp
git clone -q {url} app
cd app
printf 'token = "%s"\n' "$PLANTED" > config.txt
git add config.txt
git -c user.name=agent -c user.email=agent@bottle.test commit -q -m 'add config'
if git push origin main; then echo PUSHED; else echo REJECTED; fi"#,
        url = upstream_url()
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("REJECTED"), "{}", show(&out));
    assert!(!text.contains("PUSHED"), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.txt"),
        "the rejection names the file:\n{err}"
    );
    assert!(
        !err.contains(&token),
        "the rejection echoes the secret:\n{err}"
    );
    assert_eq!(b.up.upstream_head(), before, "the upstream changed");
    b.assert_clean();
}
