//! The agent-side config, exercised through a real git client.
