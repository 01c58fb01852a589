//! A stub of Anthropic's Messages API, for running the real Claude Code in a
//! bottle with no model behind it.
//!
//! A test writes a [`Script`]: the assistant turns of one conversation,
//! each a list of text and `tool_use` blocks. The stub serves it over real
//! HTTPS under the real hostname (`api.anthropic.com`, reached through the
//! bottle's `egress.hosts` map, its certificate trusted through
//! `egress.upstream_ca`), streaming each turn as the API does (server-sent
//! events: `message_start`, `content_block_start`/`_delta`/`_stop`,
//! `message_delta`, `message_stop`), or as one JSON message when the
//! request does not ask for a stream.
//!
//! Which turn answers a request is a function of the request alone: a
//! request that offers tools is the agent's main loop, and the number of
//! assistant messages it already carries is the turn to play. Retries get
//! the same answer, and Claude Code's side requests (no tools: titles,
//! summaries) get a short text reply without consuming the script; any
//! other path gets the API's 404 `not_found_error`. Every
//! request, to any path and any of the stub's names, is recorded whole, so
//! tests can read what the agent sent: headers (the injected key), tool
//! results (what the agent saw), background traffic.
//!
//! The same server answers OpenAI's Responses API for Codex (see
//! [`crate::openai`]); the path says which API a request speaks.
//!
//! The protocol lives here, in Rust, as pure functions with unit tests;
//! the server that runs in the upstream container ([`SERVER`]) only picks
//! a prepared answer and records.

use serde_json::{Value, json};

/// One content block of an assistant turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Text.
    Text(String),
    /// A tool call: the tool's name and its input.
    ToolUse {
        /// The tool (`Bash`).
        name: String,
        /// Its input object.
        input: Value,
    },
}

/// One assistant turn.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// Its blocks, in order.
    pub blocks: Vec<Block>,
}

impl Turn {
    /// A turn with one text block (it ends the conversation).
    pub fn text(text: &str) -> Self {
        Self::default().and_text(text)
    }

    /// Append a text block.
    pub fn and_text(mut self, text: &str) -> Self {
        self.blocks.push(Block::Text(text.to_string()));
        self
    }

    /// Append a tool call (the turn then stops for the tool's result).
    pub fn and_tool(mut self, name: &str, input: Value) -> Self {
        self.blocks.push(Block::ToolUse {
            name: name.to_string(),
            input,
        });
        self
    }

    /// `tool_use` when the turn calls a tool, else `end_turn`.
    pub fn stop_reason(&self) -> &'static str {
        if self
            .blocks
            .iter()
            .any(|b| matches!(b, Block::ToolUse { .. }))
        {
            "tool_use"
        } else {
            "end_turn"
        }
    }
}

/// The model name the stub's answers carry: the server puts the request's
/// model in its place.
pub const MODEL_SLOT: &str = "__STUB_MODEL__";

/// The id of the `n`th tool call of turn `turn`.
pub fn tool_use_id(turn: usize, n: usize) -> String {
    format!("toolu_stub_{turn:02}_{n:02}")
}

fn block_json(turn: usize, blocks: &[Block]) -> Vec<Value> {
    let mut tools = 0;
    blocks
        .iter()
        .map(|b| match b {
            Block::Text(t) => json!({"type": "text", "text": t}),
            Block::ToolUse { name, input } => {
                tools += 1;
                json!({"type": "tool_use", "id": tool_use_id(turn, tools - 1),
                       "name": name, "input": input})
            }
        })
        .collect()
}

fn usage(output: usize) -> Value {
    json!({"input_tokens": 12, "cache_creation_input_tokens": 0,
           "cache_read_input_tokens": 0, "output_tokens": output})
}

/// Turn `index` as one JSON message (a non-streaming answer).
pub fn message(index: usize, turn: &Turn) -> Value {
    json!({
        "id": format!("msg_stub_{index:02}"),
        "type": "message",
        "role": "assistant",
        "model": MODEL_SLOT,
        "content": block_json(index, &turn.blocks),
        "stop_reason": turn.stop_reason(),
        "stop_sequence": null,
        "usage": usage(turn.blocks.len() * 8),
    })
}

fn event(out: &mut String, name: &str, data: &Value) {
    out.push_str("event: ");
    out.push_str(name);
    out.push_str("\ndata: ");
    out.push_str(&data.to_string());
    out.push_str("\n\n");
}

/// Turn `index` as the API streams it: server-sent events, text in two
/// deltas and tool input as partial JSON in two pieces, as real streams
/// split them.
pub fn sse(index: usize, turn: &Turn) -> String {
    let mut out = String::new();
    let mut start = message(index, turn);
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["usage"] = usage(1);
    event(
        &mut out,
        "message_start",
        &json!({"type": "message_start", "message": start}),
    );
    event(&mut out, "ping", &json!({"type": "ping"}));
    for (i, block) in block_json(index, &turn.blocks).into_iter().enumerate() {
        let (empty, deltas) = match &block["type"] {
            t if t == "text" => {
                let text = block["text"].as_str().unwrap_or_default().to_string();
                let (a, b) = split_half(&text);
                let d = |s: &str| json!({"type": "text_delta", "text": s});
                (json!({"type": "text", "text": ""}), vec![d(a), d(b)])
            }
            _ => {
                let input = block["input"].to_string();
                let (a, b) = split_half(&input);
                let d = |s: &str| json!({"type": "input_json_delta", "partial_json": s});
                let mut empty = block.clone();
                empty["input"] = json!({});
                (empty, vec![d(a), d(b)])
            }
        };
        event(
            &mut out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": i, "content_block": empty}),
        );
        for d in deltas {
            event(
                &mut out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": i, "delta": d}),
            );
        }
        event(
            &mut out,
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": i}),
        );
    }
    event(
        &mut out,
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": turn.stop_reason(), "stop_sequence": null},
                "usage": {"output_tokens": turn.blocks.len() * 8}}),
    );
    event(&mut out, "message_stop", &json!({"type": "message_stop"}));
    out
}

fn split_half(s: &str) -> (&str, &str) {
    let mut mid = s.len() / 2;
    while !s.is_char_boundary(mid) {
        mid += 1;
    }
    s.split_at(mid)
}

/// The conversation a stub plays.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// The main loop's turns, in order.
    pub turns: Vec<Turn>,
    /// The answer to side requests (and to main-loop requests past the
    /// last turn).
    pub side: Turn,
    /// Turns of OpenAI's Responses API (`POST /v1/responses`), for Codex.
    pub responses: Vec<crate::openai::Turn>,
}

impl Script {
    /// A script of these turns; side requests get a short text.
    pub fn new(turns: Vec<Turn>) -> Self {
        Self {
            turns,
            side: Turn::text("stub"),
            responses: Vec::new(),
        }
    }

    /// A script of Responses API turns (for Codex).
    pub fn responses(turns: Vec<crate::openai::Turn>) -> Self {
        Self {
            responses: turns,
            ..Self::new(Vec::new())
        }
    }

    /// What the server reads: every answer prepared, streamed and not.
    pub fn to_server_json(&self) -> Value {
        let answer = |i: usize, t: &Turn| json!({"sse": sse(i, t), "json": message(i, t)});
        let responses = |i: usize, t: &crate::openai::Turn| json!({"sse": crate::openai::sse(i, t), "json": crate::openai::response(i, t)});
        json!({
            "turns": self.turns.iter().enumerate().map(|(i, t)| answer(i, t)).collect::<Vec<_>>(),
            "side": answer(99, &self.side),
            "responses": self.responses.iter().enumerate().map(|(i, t)| responses(i, t)).collect::<Vec<_>>(),
            "responses_side": responses(99, &crate::openai::Turn::text("stub")),
            "model_slot": MODEL_SLOT,
        })
    }
}

/// One request the stub recorded.
#[derive(Debug, Clone)]
pub struct Call {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The Host header.
    pub host: String,
    /// Headers (lower-case names).
    pub headers: serde_json::Map<String, Value>,
    /// The body as text.
    pub body: String,
    /// What the stub answered: `turn N`, `side`, `count_tokens`, `other`.
    pub answered: String,
}

impl Call {
    /// From the server's record line.
    pub fn from_record(v: &Value) -> Self {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Self {
            method: s("method"),
            path: s("path"),
            host: s("host"),
            headers: v["headers"].as_object().cloned().unwrap_or_default(),
            body: s("body"),
            answered: s("answered"),
        }
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Whether this is a Messages API call of the agent's main loop.
    pub fn is_main_loop(&self) -> bool {
        self.answered.starts_with("turn ")
    }

    /// The tool outputs a Responses API request carries (Codex's
    /// `custom_tool_call_output` and `function_call_output` items):
    /// (call_id, text).
    pub fn tool_outputs(&self) -> Vec<(String, String)> {
        let body = self.json();
        let mut out = Vec::new();
        for item in body["input"].as_array().into_iter().flatten() {
            let kind = item["type"].as_str().unwrap_or_default();
            if kind != "custom_tool_call_output" && kind != "function_call_output" {
                continue;
            }
            let text = match &item["output"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            out.push((item["call_id"].as_str().unwrap_or_default().into(), text));
        }
        out
    }

    /// The `tool_result` blocks this request carries: (tool_use_id, text).
    pub fn tool_results(&self) -> Vec<(String, String)> {
        let body = self.json();
        let mut out = Vec::new();
        for m in body["messages"].as_array().into_iter().flatten() {
            for c in m["content"].as_array().into_iter().flatten() {
                if c["type"] != "tool_result" {
                    continue;
                }
                let text = match &c["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => String::new(),
                };
                out.push((c["tool_use_id"].as_str().unwrap_or_default().into(), text));
            }
        }
        out
    }
}

/// Where the server reads its script.
pub const SCRIPT_PATH: &str = "/srv/script.json";
/// Where the server records requests (one JSON object a line).
pub const RECORDS_PATH: &str = "/srv/requests.jsonl";

/// The stub's server (Python 3, standard library only), run in an
/// upstream container: it reads [`SCRIPT_PATH`] and the TLS files, appends
/// every request to [`RECORDS_PATH`], and creates `/srv/ready` once it
/// listens on port 443.
pub const SERVER: &str = r#"
import http.server, json, ssl, sys, threading
script = json.load(open("/srv/script.json"))
lock = threading.Lock()
RECORDS = "/srv/requests.jsonl"

def read_body(h):
    if "chunked" in (h.headers.get("transfer-encoding") or "").lower():
        out = b""
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += h.rfile.read(size)
            h.rfile.readline()
    n = int(h.headers.get("content-length") or 0)
    return h.rfile.read(n) if n else b""

OUTPUTS = ("custom_tool_call_output", "function_call_output")

def pick(method, path, body):
    # What answers: (label, answer or None). Pure function of the request.
    p = path.split("?")[0]
    if p.endswith("/v1/responses") and method == "POST":
        try:
            req = json.loads(body)
        except Exception:
            return "bad json", None
        items = req.get("input") if isinstance(req.get("input"), list) else []
        n = sum(1 for i in items if isinstance(i, dict) and i.get("type") in OUTPUTS)
        if n < len(script["responses"]):
            return "turn %d" % n, (req, script["responses"][n])
        return "past the script", (req, script["responses_side"])
    if p.endswith("/v1/messages/count_tokens"):
        return "count_tokens", None
    if not p.endswith("/v1/messages"):
        return "other", None
    try:
        req = json.loads(body)
    except Exception:
        return "bad json", None
    if req.get("tools"):
        n = sum(1 for m in req.get("messages", []) if m.get("role") == "assistant")
        if n < len(script["turns"]):
            return "turn %d" % n, (req, script["turns"][n])
        return "past the script", (req, script["side"])
    return "side", (req, script["side"])

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_one(self):
        body = read_body(self)
        label, answer = pick(self.command, self.path, body)
        rec = {"method": self.command, "path": self.path,
               "host": self.headers.get("host", ""),
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace"), "answered": label}
        with lock, open(RECORDS, "a") as f:
            f.write(json.dumps(rec) + "\n")
        ctype = "application/json"
        status = 200
        if label == "count_tokens":
            out = json.dumps({"input_tokens": 12})
        elif answer is None:
            # Anything else (managed settings, feature flags, telemetry):
            # the API's "nothing here", which Claude Code takes as "none"
            # (an empty 200 it reports as unparseable remote settings).
            status = 404
            out = json.dumps({"type": "error",
                              "error": {"type": "not_found_error", "message": "stub: not found"}})
        else:
            req, prepared = answer
            model = json.dumps(req.get("model") or "claude-stub")[1:-1]
            if req.get("stream"):
                ctype = "text/event-stream"
                out = prepared["sse"]
            else:
                out = json.dumps(prepared["json"])
            out = out.replace(script["model_slot"], model)
        data = out.encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_stub")
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, fmt, *args):
        sys.stderr.write((fmt % args) + "\n")

srv = http.server.ThreadingHTTPServer(("0.0.0.0", 443), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("/srv/tls/cert.pem", "/srv/tls/key.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open("/srv/ready", "w").close()
srv.serve_forever()
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse server-sent events back into (event, data) pairs.
    fn parse_sse(text: &str) -> Vec<(String, Value)> {
        text.split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let mut name = String::new();
                let mut data = String::new();
                for line in e.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_string();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (name, serde_json::from_str(&data).unwrap())
            })
            .collect()
    }

    /// Rebuild the message from its stream, as an API client does.
    fn assemble(events: &[(String, Value)]) -> Value {
        let mut msg = Value::Null;
        let mut partial: Vec<String> = Vec::new();
        for (name, data) in events {
            assert_eq!(data["type"], name.as_str(), "event name and type agree");
            match name.as_str() {
                "message_start" => msg = data["message"].clone(),
                "content_block_start" => {
                    let i = data["index"].as_u64().unwrap() as usize;
                    assert_eq!(i, msg["content"].as_array().unwrap().len());
                    msg["content"]
                        .as_array_mut()
                        .unwrap()
                        .push(data["content_block"].clone());
                    partial.push(String::new());
                }
                "content_block_delta" => {
                    let i = data["index"].as_u64().unwrap() as usize;
                    let d = &data["delta"];
                    match d["type"].as_str().unwrap() {
                        "text_delta" => {
                            let t = msg["content"][i]["text"].as_str().unwrap().to_string()
                                + d["text"].as_str().unwrap();
                            msg["content"][i]["text"] = json!(t);
                        }
                        "input_json_delta" => {
                            partial[i].push_str(d["partial_json"].as_str().unwrap())
                        }
                        other => panic!("unknown delta {other}"),
                    }
                }
                "content_block_stop" => {
                    let i = data["index"].as_u64().unwrap() as usize;
                    if msg["content"][i]["type"] == "tool_use" {
                        msg["content"][i]["input"] = serde_json::from_str(&partial[i]).unwrap();
                    }
                }
                "message_delta" => {
                    msg["stop_reason"] = data["delta"]["stop_reason"].clone();
                    msg["usage"]["output_tokens"] = data["usage"]["output_tokens"].clone();
                }
                "message_stop" | "ping" => {}
                other => panic!("unknown event {other}"),
            }
        }
        assert_eq!(events.last().unwrap().0, "message_stop");
        msg
    }

    #[test]
    fn a_streamed_turn_assembles_into_the_same_message_as_the_json_answer() {
        let turn = Turn::text("Let me look — ünïcode splits safely.").and_tool(
            "Bash",
            json!({"command": "cat /workspace/.env | wc -c", "description": "count"}),
        );
        let streamed = assemble(&parse_sse(&sse(3, &turn)));
        assert_eq!(streamed, message(3, &turn));
        assert_eq!(streamed["stop_reason"], "tool_use");
        assert_eq!(streamed["content"][1]["id"], tool_use_id(3, 0));
        assert_eq!(
            streamed["content"][1]["input"]["command"],
            "cat /workspace/.env | wc -c"
        );
        assert_eq!(streamed["model"], MODEL_SLOT);
    }

    #[test]
    fn a_text_only_turn_ends_the_conversation() {
        let t = Turn::text("done");
        assert_eq!(t.stop_reason(), "end_turn");
        let m = assemble(&parse_sse(&sse(0, &t)));
        assert_eq!(m["content"], json!([{"type": "text", "text": "done"}]));
    }

    #[test]
    fn tool_results_are_read_from_string_and_block_content() {
        let body = json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "a", "content": "plain"},
                {"type": "tool_result", "tool_use_id": "b",
                 "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}
            ]}
        ]});
        let call = Call::from_record(&json!({"body": body.to_string(), "answered": "turn 1"}));
        assert!(call.is_main_loop());
        assert_eq!(
            call.tool_results(),
            vec![
                ("a".into(), "plain".into()),
                ("b".into(), "one\ntwo".into())
            ]
        );
    }

    #[test]
    fn the_server_gets_every_answer_prepared() {
        let s = Script::new(vec![Turn::text("a"), Turn::text("b")]);
        let v = s.to_server_json();
        assert_eq!(v["turns"].as_array().unwrap().len(), 2);
        assert!(v["turns"][1]["sse"].as_str().unwrap().contains("\"b\""));
        assert_eq!(v["side"]["json"]["content"][0]["text"], "stub");
    }
}
