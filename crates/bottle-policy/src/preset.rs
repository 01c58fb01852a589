//! Agent presets: which image recipe and default command an agent gets.

use serde::{Deserialize, Serialize};

/// Agent presets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// A shell with git, curl and python3.
    #[default]
    Shell,
    /// Claude Code.
    Claude,
    /// OpenAI Codex CLI.
    Codex,
}

impl Preset {
    /// The preset's name, as the manifest spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shell => "shell",
            Self::Claude => "claude",
            Self::Codex => "codex",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_spells_each_preset_by_its_name() {
        for p in [Preset::Shell, Preset::Claude, Preset::Codex] {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<Preset>(&json).unwrap(), p);
        }
        assert!(serde_json::from_str::<Preset>("\"Claude\"").is_err());
    }
}
