//! The bottle's life: exit codes and streams, teardown on exit, on signals
//! and after `bottle` is killed at each launch step, `ls`, `stop`, `logs`,
//! `doctor`, and many cycles without leaks.

use super::{Opts, TestBottle, setup, shared_dir, show};
use bottle_testkit::docker as dk;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn run_exits_with_the_commands_code_and_keeps_stdout_and_stderr_apart() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("exit", Opts::default());
    let out = b.run("echo to-stdout; echo to-stderr >&2; id -u; exit 7");
    assert_eq!(out.status.code(), Some(7), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout, "to-stdout\n1000\n", "{}", show(&out));
    assert!(stderr.contains("to-stderr"), "{}", show(&out));
    assert!(!stderr.contains("to-stdout"), "{}", show(&out));
    // Piped stdin reaches the command, and its end closes the command's.
    let mut child = b
        .cmd(&[
            "run",
            "--yes",
            &b.agent,
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"piped in\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "PIPED IN\ndone\n",
        "{}",
        show(&out)
    );
    b.assert_clean();
}

/// The launch steps `bottle run -v` reports, in order.
const STEPS: [&str; 4] = [
    "bottle: creating networks",
    "bottle: starting sidecars",
    "bottle: waiting for the sidecars to be healthy",
    "bottle: starting the agent",
];

/// Start `bottle run -v -- sleep 60` and return it once stderr shows `step`.
fn run_until(b: &TestBottle, step: &str) -> std::process::Child {
    let mut child = b
        .cmd(&["run", "--yes", "-v", &b.agent, "--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(l)) => {
                let hit = l.starts_with(step);
                seen.push(l);
                if hit {
                    break;
                }
            }
            _ => panic!("bottle ended before {step:?}: {seen:?}"),
        }
        assert!(Instant::now() < deadline, "no {step:?} in {seen:?}");
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn killing_bottle_at_each_launch_step_leaves_nothing_after_cleanup() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("kill", Opts::default());
    for step in STEPS {
        let mut child = run_until(&b, step);
        signal(&child, "-KILL");
        child.wait().unwrap();
        // A killed bottle cannot tear down; its resources are orphans now
        // (a few may still be appearing: in-flight calls finish).
        std::thread::sleep(Duration::from_millis(1500));
        let ls = b.cmd(&["ls", "--json"]).output().unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_slice(&ls.stdout).unwrap();
        for i in all
            .iter()
            .filter(|i| i["name"].as_str().is_some_and(|n| n.starts_with(&b.agent)))
        {
            assert_eq!(i["state"], "orphaned", "after SIGKILL at {step:?}: {i}");
        }
        b.assert_clean();
    }
}

#[test]
fn sigterm_or_ctrl_c_at_each_launch_step_tears_everything_down() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("term", Opts::default());
    for (i, step) in STEPS.iter().enumerate() {
        let sig = if i % 2 == 0 { "-TERM" } else { "-INT" };
        let mut child = run_until(&b, step);
        signal(&child, sig);
        let status = child.wait().unwrap();
        let want = if sig == "-TERM" { 143 } else { 130 };
        assert_eq!(status.code(), Some(want), "{sig} at {step:?}");
        // No cleanup: bottle tore down by itself.
        let (c, n) = dk::leftovers(&b.agent);
        assert!(
            c.is_empty() && n.is_empty(),
            "{sig} at {step:?} left {c:?} {n:?}"
        );
    }
    b.assert_clean();
}

#[test]
fn ls_shows_a_running_bottle_and_stop_removes_it() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("stop", Opts::default());
    let mut child = run_until(&b, "bottle: starting the agent");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ls = b.cmd(&["ls", "--json"]).output().unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_slice(&ls.stdout).unwrap();
        if let Some(i) = all
            .iter()
            .find(|i| i["name"] == b.agent.as_str() && i["state"] == "running")
        {
            assert_eq!(i["agent"], b.agent.as_str());
            assert_eq!(i["bottle"], "b");
            assert_eq!(i["owner_alive"], true);
            let roles: Vec<&str> = i["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["role"].as_str().unwrap())
                .collect();
            // The agent, the proxy, and the container that holds the name.
            assert_eq!(roles.len(), 3, "{i}");
            assert!(
                roles.contains(&"agent")
                    && roles.contains(&"egress")
                    && roles.contains(&"reservation"),
                "{i}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "never running: {all:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // While it runs, a new plan for the same agent picks the next name
    // (read-only: plan creates nothing).
    let plan = b.cmd(&["plan", &b.agent, "--json"]).output().unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    assert_eq!(plan["instance"], format!("{}-2", b.agent).as_str());
    // `logs --follow` streams from the live proxy (its start-up line is on
    // stderr) and ends when the bottle stops.
    let mut follow = b
        .cmd(&["logs", &b.agent, "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let follow_err = follow.stderr.take().unwrap();
    let follower = std::thread::spawn(move || {
        BufReader::new(follow_err)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let out = b.cmd(&["stop", &b.agent, "--time", "2"]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run must report the agent's end: {status:?}"
    );
    let (c, n) = dk::leftovers(&b.agent);
    assert!(c.is_empty() && n.is_empty(), "stop left {c:?} {n:?}");
    let status = follow.wait().unwrap();
    assert!(status.success(), "logs --follow: {status:?}");
    let lines = follower.join().unwrap();
    assert!(
        lines.iter().any(|l| l.contains("listening on")),
        "logs --follow: {lines:?}"
    );
    let again = b.cmd(&["stop", &b.agent]).output().unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "stopping a gone bottle is an error: {}",
        show(&again)
    );
    b.assert_clean();
}

/// Ten launches of one agent at once, in one directory: the engine is the
/// arbiter of instance names (a name is held by a container, whose name it
/// refuses twice), so each gets its own, all succeed, and nothing is left.
#[test]
fn ten_concurrent_runs_in_one_directory_all_succeed_and_leave_nothing() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("many", Opts::default());
    let children: Vec<std::process::Child> = (0..10)
        .map(|_| {
            b.cmd(&["run", "--yes", &b.agent, "--", "true"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn bottle run")
        })
        .collect();
    let outs: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for bottle run"))
        .collect();
    for (i, out) in outs.iter().enumerate() {
        assert!(out.status.success(), "run {i}: {}", show(out));
    }
    let left = dk::labelled(&format!("bottle.agent={}", b.agent));
    assert!(left.is_empty(), "left behind: {left:?}");
    // Every launch saved its logs; launches that overlapped in time had
    // different instance names.
    let root = b.state.path().join("logs");
    let mut records = Vec::new();
    for inst in std::fs::read_dir(&root).expect("logs root") {
        let inst = inst.unwrap().file_name().into_string().unwrap();
        assert!(inst.starts_with(&b.agent), "{inst}");
        records.extend(
            bottle_docker::paths::launches(&root, &inst)
                .into_iter()
                .map(|(_, r)| r),
        );
    }
    assert_eq!(records.len(), 10, "{records:#?}");
    for x in &records {
        for y in &records {
            if x.launch != y.launch && x.started < y.ended && y.started < x.ended {
                assert_ne!(x.instance, y.instance, "{x:?} and {y:?} overlapped");
            }
        }
    }
    let names: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.instance.as_str()).collect();
    assert!(names.len() > 1, "no two runs overlapped? {records:#?}");
    b.assert_clean();
}

/// Two bottles with the same name, one after the other: each launch keeps
/// its own logs, `logs` shows the latest, `--list` lists both and
/// `--launch` reads the first.
#[test]
fn both_audit_logs_of_two_bottles_with_the_same_name_are_readable() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("twice", Opts::default());
    let https = bottle_testkit::docker::HTTPS_HOST;
    b.run_ok(&format!("curl -sS --fail https://{https}/first-launch"));
    b.run_ok(&format!("curl -sS --fail https://{https}/second-launch"));
    let paths = |args: &[&str]| -> Vec<String> {
        let out = b.cmd(args).output().expect("bottle logs");
        assert!(out.status.success(), "{args:?}: {}", show(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("audit line"))
            .filter_map(|l| l["path"].as_str().map(String::from))
            .filter(|p| p.ends_with("-launch"))
            .collect()
    };
    assert_eq!(paths(&["logs", &b.agent, "--json"]), ["/second-launch"]);
    let out = b
        .cmd(&["logs", &b.agent, "--list", "--json"])
        .output()
        .expect("bottle logs --list");
    assert!(out.status.success(), "{}", show(&out));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("list json");
    assert_eq!(list.len(), 2, "{list:#?}");
    let ids: Vec<&str> = list.iter().map(|l| l["launch"].as_str().unwrap()).collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        paths(&["logs", &b.agent, "--json", "--launch", ids[0]]),
        ["/first-launch"]
    );
    assert_eq!(
        paths(&["logs", &b.agent, "--json", "--launch", &ids[1][..8]]),
        ["/second-launch"]
    );
    let text = b.cmd(&["logs", &b.agent, "--list"]).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(ids[0]) && text.contains(ids[1]), "{text}");
    b.assert_clean();
}

#[test]
fn twenty_start_stop_cycles_leak_nothing() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("cycles", Opts::default());
    for i in 0..20 {
        let out = b.run("true");
        assert!(out.status.success(), "cycle {i}: {}", show(&out));
        let (c, n) = dk::leftovers(&b.agent);
        assert!(c.is_empty() && n.is_empty(), "cycle {i} left {c:?} {n:?}");
    }
    b.assert_clean();
}

#[test]
fn doctor_reports_the_engine_and_the_images() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("doctor", Opts::default());
    let out = b.cmd(&["doctor", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |name: &str| {
        checks
            .iter()
            .filter(|c| c["name"] == name)
            .collect::<Vec<_>>()
    };
    assert_eq!(find("engine")[0]["status"], "ok", "{checks:#?}");
    assert_eq!(find("api version")[0]["status"], "ok", "{checks:#?}");
    assert!(
        find("image")
            .iter()
            .any(|c| c["detail"] == "bottle/base:latest" && c["status"] == "ok"),
        "{checks:#?}"
    );
    b.assert_clean();
}

#[test]
fn start_gives_the_agent_a_terminal_of_the_callers_size() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("tty", Opts::default());
    // `script` runs bottle on a pseudo-terminal of a known size. (Engines
    // before API 1.42 take the size only after the start: the agent waits
    // a moment before asking.)
    let inner = format!(
        "stty rows 33 cols 101; exec {} start --yes {} -- sh -c 'sleep 1; tty; stty size; exit 5'",
        super::bottle_bin().display(),
        b.agent
    );
    let out = b
        .on_terminal(&inner)
        .output()
        .expect("script (util-linux) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/"), "{}", show(&out));
    assert!(text.contains("33 101"), "{}", show(&out));
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    b.assert_clean();
}

#[test]
fn start_passes_a_window_resize_on_to_the_agent() {
    let Some(()) = setup() else { return };
    let (shared, mount) = shared_dir();
    let b = TestBottle::new(
        "resize",
        Opts {
            extra: mount,
            ..Opts::default()
        },
    );
    // The agent reports its size, says it is ready, then watches its size
    // change. Meanwhile the terminal bottle runs on is resized from outside
    // (the kernel sends bottle SIGWINCH), mid-session. (A background job
    // of a non-interactive shell has /dev/null as its stdin; `$$` is the
    // shell that became bottle, so the resizer ends with it.)
    // (Engines before API 1.42 take the first size only after the start:
    // the agent waits for it, at most 10 s.)
    let agent = "for i in $(seq 1 50); do [ \"$(stty size)\" = \"33 101\" ] && break; sleep 0.2; done; \
                 echo \"size=$(stty size)\"; touch /shared/ready; \
                 for i in $(seq 1 150); do s=$(stty size); \
                 if [ \"$s\" = \"40 120\" ]; then echo \"size=$s\"; exit 5; fi; sleep 0.2; done; exit 7";
    let inner = format!(
        "stty rows 33 cols 101; \
         (while kill -0 $$ 2>/dev/null; do [ -e {ready} ] && break; sleep 0.1; done; stty rows 40 cols 120 </dev/tty) & \
         exec {bottle} start --yes {name} -- sh -c '{agent}'",
        ready = shared.path().join("ready").display(),
        bottle = super::bottle_bin().display(),
        name = b.agent,
    );
    let out = b
        .on_terminal(&inner)
        .output()
        .expect("script (util-linux) is needed for this test");
    let text = String::from_utf8_lossy(&out.stdout);
    let before = text.find("size=33 101");
    let after = text.find("size=40 120");
    assert!(
        before.is_some() && after.is_some() && before < after,
        "{}",
        show(&out)
    );
    assert_eq!(out.status.code(), Some(5), "{}", show(&out));
    b.assert_clean();
}

#[test]
fn start_asks_for_question_values_without_echoing_the_answer() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new(
        "ask",
        Opts {
            extra: r#"env = { ANSWER = "?What is the answer" }"#.into(),
            ..Opts::default()
        },
    );
    let answer = format!("ans-{}", super::random_alnum(12));
    let inner = format!(
        "exec {} start --yes {} -- sh -c 'echo \"agent-got=$ANSWER\"'",
        super::bottle_bin().display(),
        b.agent
    );
    let mut child = b
        .on_terminal(&inner)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) is needed for this test");
    let mut stdout = child.stdout.take().unwrap();
    // Answer only once the question is on the terminal (typed-ahead input
    // would be echoed before bottle turns echo off).
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    // The preflight names the question too; wait for the prompt itself.
    while !String::from_utf8_lossy(&seen).contains("ANSWER: What is the answer") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(
            n > 0 && Instant::now() < deadline,
            "no question: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{answer}\n").as_bytes()).unwrap();
    std::io::Read::read_to_end(&mut stdout, &mut seen).unwrap();
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{status:?}\n{text}");
    assert!(text.contains(&format!("agent-got={answer}")), "{text}");
    assert_eq!(
        text.matches(answer.as_str()).count(),
        1,
        "the answer was echoed:\n{text}"
    );
    b.assert_clean();
}

#[test]
fn a_failed_launch_says_why_and_leaves_nothing_behind() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("fail", Opts::default());
    // The proxy refuses to start with an unreadable upstream CA: the launch
    // fails at the health check, after networks and a sidecar exist.
    std::fs::write(&b.up.ca_path, "not a certificate\n").unwrap();
    let out = b.run("echo never");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("egress sidecar"), "{}", show(&out));
    assert!(stderr.contains("did not become healthy"), "{}", show(&out));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("never"));
    // Torn down by bottle itself, before any cleanup.
    let (c, n) = dk::leftovers(&b.agent);
    assert!(c.is_empty() && n.is_empty(), "left {c:?} {n:?}");
    b.assert_clean();
}

#[test]
fn start_refuses_without_a_terminal_unless_yes() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("refuse", Opts::default());
    let out = b.cmd(&["start", &b.agent]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{}",
        show(&out)
    );
    // The preflight was shown; nothing was created.
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&b.agent),
        "{}",
        show(&out)
    );
    let (c, n) = dk::leftovers(&b.agent);
    assert!(c.is_empty() && n.is_empty(), "{c:?} {n:?}");
}

#[test]
fn sigterm_to_start_is_passed_to_the_agent() {
    let Some(()) = setup() else { return };
    let b = TestBottle::new("fwd", Opts::default());
    let pidfile = b.state.path().join("bottle.pid");
    let inner = format!(
        "echo $$ > {pid}; exec {bin} start --yes {agent} -- sh -c \
         'trap \"echo agent-got-term; exit 3\" TERM; echo agent-ready; while :; do sleep 0.2; done'",
        pid = pidfile.display(),
        bin = super::bottle_bin().display(),
        agent = b.agent
    );
    let mut child = b
        .on_terminal(&inner)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) is needed for this test");
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("agent-ready") {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(
            n > 0 && Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let ok = std::process::Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    std::io::Read::read_to_end(&mut stdout, &mut seen).unwrap();
    let status = child.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("agent-got-term"), "{text}");
    assert_eq!(status.code(), Some(143), "{text}");
    let (c, n) = dk::leftovers(&b.agent);
    assert!(c.is_empty() && n.is_empty(), "{c:?} {n:?}");
    b.assert_clean();
}
