//! The task graph: tasks and their dependencies, on petgraph. It refuses unknown dependencies,
//! duplicates and anything that would close a cycle, with an error the asking agent can read.

use super::ids::TaskId;
use petgraph::Direction;
use petgraph::algo::has_path_connecting;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("task {0} already exists")]
    Duplicate(TaskId),
    #[error(
        "unknown dependency {dep} for task {task}: create {dep} first or remove it from depends_on"
    )]
    UnknownDependency { task: TaskId, dep: TaskId },
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    #[error(
        "{task} cannot depend on {dep}: that would make a cycle ({dep} already depends on {task})"
    )]
    Cycle { task: TaskId, dep: TaskId },
}

/// Edges point from a dependency to the task that needs it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(
    into = "Vec<(TaskId, Vec<TaskId>)>",
    try_from = "Vec<(TaskId, Vec<TaskId>)>"
)]
pub struct TaskGraph {
    graph: DiGraph<TaskId, ()>,
    index: HashMap<TaskId, NodeIndex>,
}

impl TaskGraph {
    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    pub fn contains(&self, id: &TaskId) -> bool {
        self.index.contains_key(id)
    }

    /// Checks that `id` could be added with `deps`, without adding it.
    pub fn check_new(&self, id: &TaskId, deps: &[TaskId]) -> Result<(), GraphError> {
        if self.index.contains_key(id) {
            return Err(GraphError::Duplicate(id.clone()));
        }
        match deps.iter().find(|d| !self.index.contains_key(*d)) {
            Some(dep) => Err(GraphError::UnknownDependency {
                task: id.clone(),
                dep: dep.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Adds a task whose dependencies all exist already (so it cannot close a cycle).
    pub fn add_task(&mut self, id: TaskId, deps: &[TaskId]) -> Result<(), GraphError> {
        self.check_new(&id, deps)?;
        let node = self.graph.add_node(id.clone());
        self.index.insert(id, node);
        for dep in deps {
            if let Some(&d) = self.index.get(dep) {
                self.graph.update_edge(d, node, ());
            }
        }
        Ok(())
    }

    /// Makes `task` depend on `dep` as well (re-planning), refusing cycles.
    pub fn add_dependency(&mut self, task: &TaskId, dep: &TaskId) -> Result<(), GraphError> {
        let t = *self
            .index
            .get(task)
            .ok_or_else(|| GraphError::UnknownTask(task.clone()))?;
        let d = *self
            .index
            .get(dep)
            .ok_or_else(|| GraphError::UnknownDependency {
                task: task.clone(),
                dep: dep.clone(),
            })?;
        if t == d || has_path_connecting(&self.graph, t, d, None) {
            return Err(GraphError::Cycle {
                task: task.clone(),
                dep: dep.clone(),
            });
        }
        self.graph.update_edge(d, t, ());
        Ok(())
    }

    /// `task` no longer depends on `dep` (a replaced dependency). Unknown ids change nothing.
    pub fn remove_dependency(&mut self, task: &TaskId, dep: &TaskId) {
        if let (Some(&t), Some(&d)) = (self.index.get(task), self.index.get(dep)) {
            if let Some(e) = self.graph.find_edge(d, t) {
                self.graph.remove_edge(e);
            }
        }
    }

    /// The tasks `id` depends on, in creation order.
    pub fn dependencies(&self, id: &TaskId) -> Vec<TaskId> {
        self.neighbours(id, Direction::Incoming)
    }

    /// The tasks that depend on `id`, in creation order.
    pub fn dependents(&self, id: &TaskId) -> Vec<TaskId> {
        self.neighbours(id, Direction::Outgoing)
    }

    fn neighbours(&self, id: &TaskId, dir: Direction) -> Vec<TaskId> {
        let Some(&n) = self.index.get(id) else {
            return Vec::new();
        };
        let mut nodes: Vec<NodeIndex> = self.graph.neighbors_directed(n, dir).collect();
        nodes.sort();
        nodes.into_iter().map(|i| self.graph[i].clone()).collect()
    }

    /// True if the graph holds a cycle (it never should).
    pub fn has_cycle(&self) -> bool {
        petgraph::algo::is_cyclic_directed(&self.graph)
    }
}

impl From<TaskGraph> for Vec<(TaskId, Vec<TaskId>)> {
    fn from(g: TaskGraph) -> Self {
        g.graph
            .node_indices()
            .map(|n| (g.graph[n].clone(), g.dependencies(&g.graph[n])))
            .collect()
    }
}

impl TryFrom<Vec<(TaskId, Vec<TaskId>)>> for TaskGraph {
    type Error = GraphError;

    fn try_from(nodes: Vec<(TaskId, Vec<TaskId>)>) -> Result<Self, GraphError> {
        let mut g = TaskGraph::default();
        for (id, _) in &nodes {
            let node = g.graph.add_node(id.clone());
            if g.index.insert(id.clone(), node).is_some() {
                return Err(GraphError::Duplicate(id.clone()));
            }
        }
        for (id, deps) in &nodes {
            for dep in deps {
                g.add_dependency(id, dep)?;
            }
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(n: usize) -> TaskId {
        TaskId::numbered(n)
    }

    #[test]
    fn refuses_unknown_dependencies_and_duplicates() {
        let mut g = TaskGraph::default();
        g.add_task(t(1), &[]).unwrap();
        assert_eq!(
            g.add_task(t(2), &[t(9)]),
            Err(GraphError::UnknownDependency {
                task: t(2),
                dep: t(9)
            })
        );
        assert_eq!(g.add_task(t(1), &[]), Err(GraphError::Duplicate(t(1))));
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn refuses_cycles_with_a_readable_error() {
        let mut g = TaskGraph::default();
        g.add_task(t(1), &[]).unwrap();
        g.add_task(t(2), &[t(1)]).unwrap();
        g.add_task(t(3), &[t(2)]).unwrap();
        let err = g.add_dependency(&t(1), &t(3)).unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle {
                task: t(1),
                dep: t(3)
            }
        );
        assert!(err.to_string().contains("cycle"));
        assert!(g.add_dependency(&t(2), &t(2)).is_err());
        assert_eq!(g.dependents(&t(1)), vec![t(2)]);
    }

    #[test]
    fn serializes_and_rebuilds() {
        let mut g = TaskGraph::default();
        g.add_task(t(1), &[]).unwrap();
        g.add_task(t(2), &[]).unwrap();
        g.add_task(t(3), &[t(1), t(2)]).unwrap();
        let json = serde_json::to_string(&g).unwrap();
        let back: TaskGraph = serde_json::from_str(&json).unwrap();
        assert_eq!(back.dependencies(&t(3)), vec![t(1), t(2)]);
        assert!(serde_json::from_str::<TaskGraph>(r#"[["T1",["T2"]],["T2",["T1"]]]"#).is_err());
    }

    proptest! {
        #[test]
        fn never_holds_a_cycle(ops in proptest::collection::vec((0usize..12, 0usize..12, any::<bool>()), 0..80)) {
            let mut g = TaskGraph::default();
            for (a, b, new) in ops {
                if new {
                    let deps: Vec<TaskId> = (b % (g.len() + 1)..g.len()).take(2).map(|i| t(i + 1)).collect();
                    let _ = g.add_task(t(g.len() + 1), &deps);
                } else {
                    let _ = g.add_dependency(&t(a + 1), &t(b + 1));
                }
                prop_assert!(!g.has_cycle());
            }
        }
    }
}
