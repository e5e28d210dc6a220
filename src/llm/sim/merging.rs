//! How a simulated specialist handles a merge the queue turned back with a conflict: it reads
//! each conflicted file, resolves every conflict by keeping both sides (its own lines first,
//! then the run branch's it lacks), writes the files back without markers and completes the
//! task again. Honest and mechanical: it is what a careful person does with two additions to
//! one list, and the engine merges the result like any other.

use super::turn::Turn;
use crate::llm::{LlmRequest, MessageRole};
use serde_json::json;

/// The answer to a conflict the conversation is in the middle of, if it is in one.
pub fn resolve(req: &LlmRequest) -> Option<Turn> {
    let msgs = &req.messages;
    let answers: Vec<usize> = msgs
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == MessageRole::Assistant)
        .map(|(i, _)| i)
        .collect();
    let result_of = |answer: usize, tool: &str| -> Vec<String> {
        let calls = &msgs[answer].tool_calls;
        msgs[answer + 1..]
            .iter()
            .take_while(|m| m.role != MessageRole::Assistant)
            .filter(|m| m.role == MessageRole::Tool)
            .filter(|m| {
                calls
                    .iter()
                    .any(|c| Some(&c.id) == m.tool_call_id.as_ref() && c.name == tool)
            })
            .map(|m| m.content.clone())
            .collect()
    };
    let conflicted = |answer: usize| {
        result_of(answer, "complete_task")
            .into_iter()
            .find(|t| t.contains("conflict markers"))
    };
    let n = answers.len();
    let last = *answers.last()?;
    // Right after the turned-back completion: read every file it names.
    if let Some(text) = conflicted(last) {
        let files = named_files(&text);
        let mut turn = Turn::think(format!(
            "The merge queue turned my work back: other tasks changed {} on the run branch since \
             I started, and my worktree now holds both sides with conflict markers. I will read \
             each file and keep what both sides meant.",
            files.join(", ")
        ));
        for f in &files {
            turn = turn.call("read_file", json!({ "path": f }));
        }
        return Some(turn);
    }
    // After reading them: write each back, both sides kept, no markers.
    if n >= 2 && conflicted(answers[n - 2]).is_some() {
        let reads: Vec<(String, String)> = msgs[last]
            .tool_calls
            .iter()
            .filter(|c| c.name == "read_file")
            .filter_map(|c| {
                let path = c.arguments["path"].as_str()?.to_owned();
                let text = msgs[last + 1..]
                    .iter()
                    .find(|m| m.tool_call_id.as_ref() == Some(&c.id))?
                    .content
                    .clone();
                Some((path, text))
            })
            .collect();
        let mut turn = Turn::think(
            "Both sides add to the same place; neither replaces the other. I keep my lines and then \
             the run branch's, and drop the markers.",
        );
        for (path, text) in reads {
            turn = turn.call(
                "write_file",
                json!({ "path": path, "content": union(&numbered_text(&text)) }),
            );
        }
        return Some(turn);
    }
    // After writing them: complete again, saying what was resolved.
    if n >= 3 && conflicted(answers[n - 3]).is_some() {
        let before = msgs[answers[n - 3]]
            .tool_calls
            .iter()
            .find(|c| c.name == "complete_task")?;
        let summary = before.arguments["summary"].as_str().unwrap_or("done");
        let evidence = before.arguments["evidence"].as_str().unwrap_or("");
        let files: Vec<String> = msgs[answers[n - 1]]
            .tool_calls
            .iter()
            .filter_map(|c| c.arguments["path"].as_str().map(str::to_owned))
            .collect();
        return Some(
            Turn::think("The conflicts are resolved; the queue can merge it now.").call(
                "complete_task",
                json!({
                    "summary": format!("{summary} (resolved the merge conflict in {} keeping both sides)", files.join(", ")),
                    "evidence": evidence,
                }),
            ),
        );
    }
    None
}

/// The files a turned-back completion names: "… conflict markers (…) in: a, b."
fn named_files(text: &str) -> Vec<String> {
    let Some((_, rest)) = text.split_once(") in: ") else {
        return Vec::new();
    };
    let list = rest.split_once(". ").map_or(rest, |(l, _)| l);
    list.split(", ")
        .map(|f| f.trim().trim_end_matches('.').to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

/// The text of a `read_file` result: its numbered lines without the numbers, and without the
/// closing note.
fn numbered_text(result: &str) -> String {
    let mut out = String::new();
    for line in result.lines() {
        let Some((num, text)) = line.split_once('\t') else {
            continue;
        };
        if !num.trim().chars().all(|c| c.is_ascii_digit()) || num.trim().is_empty() {
            continue;
        }
        out.push_str(text);
        out.push('\n');
    }
    out
}

/// Every conflict of `text` resolved by keeping both sides: this side's lines, then the other
/// side's lines this side lacks.
pub fn union(text: &str) -> String {
    let mut out = String::new();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    #[derive(PartialEq)]
    enum In {
        Neither,
        Ours,
        Base,
        Theirs,
    }
    let mut at = In::Neither;
    for line in text.lines() {
        match at {
            In::Neither if line.starts_with("<<<<<<<") => at = In::Ours,
            In::Ours if line.starts_with("|||||||") => at = In::Base,
            In::Ours | In::Base if line.starts_with("=======") => at = In::Theirs,
            In::Theirs if line.starts_with(">>>>>>>") => {
                for l in ours.drain(..) {
                    out.push_str(l);
                    out.push('\n');
                }
                for l in theirs.drain(..) {
                    out.push_str(l);
                    out.push('\n');
                }
                at = In::Neither;
            }
            In::Ours => ours.push(line),
            In::Base => {}
            In::Theirs => {
                if !ours.contains(&line) {
                    theirs.push(line);
                }
            }
            In::Neither => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_are_kept_once_and_the_markers_go() {
        let text = "# Changes\n<<<<<<< HEAD\n## Unreleased\n- store\n=======\n## Unreleased\n- docs\n>>>>>>> macrohard/r\nend\n";
        assert_eq!(
            union(text),
            "# Changes\n## Unreleased\n- store\n- docs\nend\n"
        );
    }

    #[test]
    fn the_files_of_a_turned_back_completion_are_named() {
        let text = "error: T2 could not be merged: other tasks changed CHANGELOG.md on the run branch since you started. Your worktree now holds the merge of the run branch, with conflict markers (<<<<<<< ours, ======= , >>>>>>> theirs) in: CHANGELOG.md, a.py. Read each file, …";
        assert_eq!(named_files(text), vec!["CHANGELOG.md", "a.py"]);
        assert_eq!(
            numbered_text("     1\tone\n     2\ttwo\n[lines 1-2 of 2]"),
            "one\ntwo\n"
        );
    }
}
