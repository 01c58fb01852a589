//! A stub of OpenAI's Responses API, for running the real Codex in a
//! bottle with no model behind it: the counterpart of [`crate::anthropic`]
//! (same server, same records; the path says which API answers).
//!
//! A script ([`crate::anthropic::Script::responses`]) is a list of turns,
//! each a list of output items: assistant text, or a call of Codex's `exec`
//! tool (JavaScript run by its code-mode host, which reaches the shell
//! through `tools.exec_command`).
//! The turn a request gets is the number of tool outputs its input already
//! carries. Streamed as the API streams (`response.created`,
//! `response.output_item.added`, `response.output_text.delta`,
//! `response.output_item.done`, `response.completed`). Codex first tries
//! the API's WebSocket transport (`GET /v1/responses` with an upgrade); the
//! stub answers 404 there, and Codex falls back to HTTPS, as it does
//! against any server without it.

use serde_json::{Value, json};

/// One output item of a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// Assistant text.
    Text(String),
    /// A call of Codex's `exec` tool with this JavaScript.
    Exec(String),
}

/// The id of the `n`th tool call of turn `turn`.
pub fn call_id(turn: usize, n: usize) -> String {
    format!("call_stub_{turn:02}_{n:02}")
}

fn items_json(turn: usize, items: &[Item]) -> Vec<Value> {
    let mut calls = 0;
    items
        .iter()
        .enumerate()
        .map(|(i, it)| match it {
            Item::Text(t) => json!({
                "type": "message", "id": format!("msg_stub_{turn:02}_{i:02}"),
                "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": t, "annotations": []}]}),
            Item::Exec(js) => {
                calls += 1;
                json!({"type": "custom_tool_call", "id": format!("ctc_stub_{turn:02}_{i:02}"),
                       "call_id": call_id(turn, calls - 1), "name": "exec", "input": js,
                       "status": "completed"})
            }
        })
        .collect()
}

/// One turn: its output items, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Turn {
    /// The items.
    pub items: Vec<Item>,
}

impl Turn {
    /// A turn of assistant text (it ends the exchange).
    pub fn text(text: &str) -> Self {
        Self {
            items: vec![Item::Text(text.to_string())],
        }
    }

    /// A turn that runs `command` in Codex's shell through its `exec`
    /// tool and hands the output back.
    pub fn shell(command: &str) -> Self {
        let js = format!(
            "const r = await tools.exec_command({{cmd: {}, login: false}});\ntext(r.output);",
            serde_json::Value::String(command.to_string())
        );
        Self {
            items: vec![Item::Exec(js)],
        }
    }
}

fn usage() -> Value {
    json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0},
           "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 0},
           "total_tokens": 20})
}

/// Turn `index` as one response object (`status: completed`).
pub fn response(index: usize, turn: &Turn) -> Value {
    json!({"id": format!("resp_stub_{index:02}"), "object": "response",
           "status": "completed", "model": crate::anthropic::MODEL_SLOT,
           "output": items_json(index, &turn.items), "usage": usage()})
}

/// Turn `index` as the API streams it.
pub fn sse(index: usize, turn: &Turn) -> String {
    let mut events = Vec::new();
    let mut created = response(index, turn);
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    created["usage"] = Value::Null;
    events.push(json!({"type": "response.created", "response": created}));
    for (i, item) in items_json(index, &turn.items).into_iter().enumerate() {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        if item["type"] == "message" {
            added["content"] = json!([]);
        }
        events
            .push(json!({"type": "response.output_item.added", "output_index": i, "item": added}));
        if item["type"] == "message" {
            let text = item["content"][0]["text"].clone();
            events.push(
                json!({"type": "response.output_text.delta", "output_index": i,
                               "content_index": 0, "item_id": item["id"], "delta": text}),
            );
        }
        events.push(json!({"type": "response.output_item.done", "output_index": i, "item": item}));
    }
    events.push(json!({"type": "response.completed", "response": response(index, turn)}));
    let mut out = String::new();
    for e in events {
        out.push_str(&format!(
            "event: {}\ndata: {e}\n\n",
            e["type"].as_str().unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_ends_with_the_whole_response_and_its_items_match_the_json_answer() {
        let t = Turn::shell("echo 'hi'; cat /workspace/.env | wc -c");
        let text = sse(0, &t);
        let events: Vec<Value> = text
            .split("\n\n")
            .filter(|e| !e.trim().is_empty())
            .map(|e| {
                let (name, data) = e.split_once("\ndata: ").unwrap();
                let v: Value = serde_json::from_str(data).unwrap();
                assert_eq!(name.strip_prefix("event: ").unwrap(), v["type"]);
                v
            })
            .collect();
        assert_eq!(events[0]["type"], "response.created");
        let done: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "response.output_item.done")
            .map(|e| &e["item"])
            .collect();
        let last = events.last().unwrap();
        assert_eq!(last["type"], "response.completed");
        assert_eq!(last["response"], response(0, &t));
        assert_eq!(
            done,
            last["response"]["output"]
                .as_array()
                .unwrap()
                .iter()
                .collect::<Vec<_>>()
        );
        let call = done[0];
        assert_eq!(call["type"], "custom_tool_call");
        assert_eq!(call["call_id"], call_id(0, 0));
        let js = call["input"].as_str().unwrap();
        assert!(
            js.contains(r#"cmd: "echo 'hi'; cat /workspace/.env | wc -c""#),
            "{js}"
        );
    }

    #[test]
    fn text_arrives_as_a_delta_and_in_the_finished_item() {
        let text = sse(1, &Turn::text("done"));
        assert!(text.contains(r#""type":"response.output_text.delta""#));
        assert!(text.contains(r#""delta":"done""#));
        assert_eq!(
            response(1, &Turn::text("done"))["output"][0]["content"][0]["text"],
            "done"
        );
    }
}
