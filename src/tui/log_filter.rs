//! The logs pane's filter: `/` text with optional `level:warn` and `agent:NAME` words.

use crate::domain::LogLevel;

/// Filters of the logs pane: `/` text with optional `level:warn` and `agent:NAME` words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogFilter {
    pub text: String,
    pub level: Option<LogLevel>,
    pub agent: Option<String>,
}

impl LogFilter {
    pub fn parse(input: &str) -> Self {
        let mut f = LogFilter::default();
        let mut words = Vec::new();
        for w in input.split_whitespace() {
            if let Some(l) = w.strip_prefix("level:") {
                f.level = match l {
                    "debug" => Some(LogLevel::Debug),
                    "info" => Some(LogLevel::Info),
                    "warn" | "warning" => Some(LogLevel::Warn),
                    "error" => Some(LogLevel::Error),
                    _ => None,
                };
            } else if let Some(a) = w.strip_prefix("agent:") {
                f.agent = Some(a.to_owned());
            } else {
                words.push(w);
            }
        }
        f.text = words.join(" ").to_lowercase();
        f
    }

    pub fn is_empty(&self) -> bool {
        *self == LogFilter::default()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(l) = self.level {
            parts.push(format!("level ≥ {l}"));
        }
        if let Some(a) = &self.agent {
            parts.push(format!("agent {a}"));
        }
        if !self.text.is_empty() {
            parts.push(format!("\"{}\"", self.text));
        }
        parts.join(" · ")
    }
}
