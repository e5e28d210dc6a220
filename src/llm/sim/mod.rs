//! `sim`: the built-in simulated company. It is an honest stand-in for a language model, and
//! every output that shows it says SIMULATED. Given the same seed it answers the same way.
//!
//! It reads the request's structured context (role, goal, task, plan) and the conversation so
//! far (tool results included), and answers as a competent agent would: the supervisor plans a
//! small real project for the goal; workers call the real tools, so files appear in the
//! workspace and commands really run. It reacts to what actually happened: a test run that
//! fails makes the engineer give up the attempt, and the retry reads the failure and fixes it.
//!
//! Scenarios are data: a [`project::App`] chosen from the goal and a plan of task scripts.

mod merging;
mod phrases;
mod project;
mod supervisor;
mod swarm;
mod swarm_text;
mod turn;
mod workers;

pub use turn::{Pace, Turn};

use super::{LlmRequest, Provider, ProviderInfo, StreamEvent, StreamItem};
use crate::domain::Usage;
use std::time::Duration;
use tokio::sync::mpsc;

pub const SIM_MODEL: &str = "sim-1";

/// Pace of the simulation: 1.0 is like a real run (the demo takes a minute or two), larger is
/// faster, 0 is instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimSpeed(pub f64);

impl SimSpeed {
    fn scale(self, d: Duration) -> Option<Duration> {
        (self.0 > 0.0 && self.0.is_finite()).then(|| d.div_f64(self.0))
    }
}

pub struct SimProvider {
    speed: SimSpeed,
    model: String,
}

impl SimProvider {
    pub fn new(speed: SimSpeed, model: Option<String>) -> Self {
        Self {
            speed,
            model: model.unwrap_or_else(|| SIM_MODEL.to_owned()),
        }
    }
}

/// The answer the simulated company gives to `request`.
pub fn respond(request: &LlmRequest) -> Turn {
    let swarm = workers::scenario(&request.context.goal, "#swarm");
    if request.context.role == "supervisor" && swarm {
        swarm::supervise(request)
    } else if request.context.role == "supervisor" {
        supervisor::respond(request)
    } else {
        workers::respond(request)
    }
}

impl Provider for SimProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            name: "sim".into(),
            model: self.model.clone(),
            base_url: None,
            simulated: true,
        }
    }

    fn models(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<Vec<String>>, crate::llm::LlmError>>
    {
        let model = self.model.clone();
        Box::pin(async move { Ok(Some(vec![model])) })
    }

    fn stream(&self, request: LlmRequest) -> mpsc::Receiver<StreamItem> {
        let (tx, rx) = mpsc::channel(64);
        let speed = self.speed;
        tokio::spawn(async move {
            let turn = respond(&request);
            let input_tokens = request.estimated_input_tokens();
            let _ = play(turn, input_tokens, speed, &tx).await;
        });
        rx
    }
}

async fn pause(speed: SimSpeed, d: Duration) {
    if let Some(d) = speed.scale(d) {
        tokio::time::sleep(d).await;
    }
}

/// Streams a turn like a model would: a moment of latency, then reasoning and text a few words
/// at a time, then the tool calls, the usage and the stop reason.
async fn play(
    turn: Turn,
    input_tokens: u64,
    speed: SimSpeed,
    tx: &mpsc::Sender<StreamItem>,
) -> Result<(), ()> {
    let send = |e: StreamEvent| async move { tx.send(Ok(e)).await.map_err(|_| ()) };
    let pace = turn.pace.unwrap_or(Pace::DEFAULT);
    pause(speed, pace.latency).await;
    let mut output_bytes = 0usize;
    for (text, reasoning) in [(&turn.reasoning, true), (&turn.text, false)] {
        output_bytes += text.len();
        for chunk in chunks(text) {
            let words = chunk.split_whitespace().count().max(1) as u64;
            pause(speed, pace.words(words)).await;
            let chunk = chunk.to_owned();
            send(if reasoning {
                StreamEvent::Reasoning(chunk)
            } else {
                StreamEvent::Text(chunk)
            })
            .await?;
        }
    }
    let has_calls = !turn.calls.is_empty();
    for call in turn.calls {
        output_bytes += call.arguments.to_string().len();
        send(StreamEvent::ToolCall(call)).await?;
    }
    let usage = Usage {
        input_tokens,
        output_tokens: (output_bytes as u64).div_ceil(4).max(1),
        ..Usage::default()
    };
    send(StreamEvent::Usage(usage)).await?;
    let stop_reason = if has_calls { "tool_use" } else { "end_turn" };
    send(StreamEvent::Done {
        stop_reason: stop_reason.into(),
    })
    .await
}

/// Splits text into pieces of about three words, keeping whitespace so the pieces join back.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if in_word {
                words += 1;
                in_word = false;
                if words == 3 {
                    out.push(&text[start..i]);
                    start = i;
                    words = 0;
                }
            }
        } else {
            in_word = true;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_back_into_the_text() {
        let text = "The quick  brown fox\njumps over the lazy dog. ";
        assert_eq!(chunks(text).concat(), text);
        assert!(chunks(text).len() >= 3);
        assert!(chunks("").is_empty());
    }

    /// Plays `turn` at `speed` on paused time; returns the reasoning's words and the time from
    /// the end of the first-token latency to the last reasoning chunk.
    async fn stream_time(turn: Turn, speed: f64) -> (usize, Duration) {
        let latency = turn.pace.unwrap_or(Pace::DEFAULT).latency;
        let (tx, mut rx) = mpsc::channel(4096);
        let start = tokio::time::Instant::now();
        tokio::spawn(async move { play(turn, 0, SimSpeed(speed), &tx).await });
        let (mut words, mut last) = (0, start);
        while let Some(Ok(e)) = rx.recv().await {
            if let StreamEvent::Reasoning(t) = e {
                words += t.split_whitespace().count();
                last = tokio::time::Instant::now();
            }
        }
        let latency = speed_scaled(latency, speed);
        (words, last.duration_since(start).saturating_sub(latency))
    }

    fn speed_scaled(d: Duration, speed: f64) -> Duration {
        SimSpeed(speed).scale(d).unwrap_or(Duration::ZERO)
    }

    #[tokio::test(start_paused = true)]
    async fn a_swarm_agent_streams_about_100_tokens_a_second_at_speed_1() {
        let turn = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            Turn::think(swarm_text::reasoning(&mut rng, 2, 900)).paced(swarm::PACE)
        };
        let (words, took) = stream_time(turn(1), 1.0).await;
        let tokens_per_sec = words as f64 / swarm::WORDS_PER_TOKEN / took.as_secs_f64();
        assert!(words >= 900, "{words}");
        assert!(
            (95.0..=105.0).contains(&tokens_per_sec),
            "{tokens_per_sec:.1} tokens/s"
        );
        // Four times the speed, four times the pace; speed 0 takes no time at all.
        let (words, took) = stream_time(turn(2), 4.0).await;
        let fast = words as f64 / swarm::WORDS_PER_TOKEN / took.as_secs_f64();
        assert!((380.0..=420.0).contains(&fast), "{fast:.1} tokens/s");
        let (_, took) = stream_time(turn(3), 0.0).await;
        assert_eq!(took, Duration::ZERO);
    }
}
