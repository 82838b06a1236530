//! The stored workflow description.
//!
//! A 0 byte, then the format (a format 1 description has no header: it
//! starts with its id's length, never 0). Format 2 tags, each with its
//! default:
//!
//! | tag | field | value | default |
//! |----:|-------|-------|---------|
//! | 1 | id | UTF-8 | empty |
//! | 2 | name | UTF-8 | empty |
//! | 3 | created at, Unix ms | varint | 0 |
//! | 4 | a node, repeated in index order | the node's fields (below) | |
//!
//! A node's fields: 1 its task (UTF-8, default empty), 2 the nodes it
//! waits for (bincode `Vec<usize>`, default none), 3 allow-failure (flag).

use serde::Deserialize;

use super::{header, newer, text, uint, value, Fields, Writer, FORMAT};
use crate::error::{Error, Result};
use crate::job::JobId;
use crate::workflow::{NodeMeta, WorkflowMeta};

const ID: u8 = 1;
const NAME: u8 = 2;
const CREATED_AT: u8 = 3;
const NODE: u8 = 4;

const NODE_TASK: u8 = 1;
const NODE_DEPS: u8 = 2;
const NODE_ALLOW_FAILURE: u8 = 3;

/// A workflow description's stored form.
///
/// # Errors
/// Only if bincode can't encode a value (it can for every description).
pub fn encode_workflow(meta: &WorkflowMeta) -> Result<Vec<u8>> {
    let mut w = Writer::new(0, 32 + meta.name.len() + 16 * meta.nodes.len());
    w.out.push(FORMAT);
    w.raw(ID, meta.id.as_str().as_bytes());
    if !meta.name.is_empty() {
        w.raw(NAME, meta.name.as_bytes());
    }
    if meta.created_at_ms != 0 {
        w.uint(CREATED_AT, meta.created_at_ms);
    }
    for node in &meta.nodes {
        let mut n = Writer::nested(8 + node.task.len());
        if !node.task.is_empty() {
            n.raw(NODE_TASK, node.task.as_bytes());
        }
        if !node.deps.is_empty() {
            n.value(NODE_DEPS, &node.deps)?;
        }
        if node.allow_failure {
            n.flag(NODE_ALLOW_FAILURE);
        }
        w.raw(NODE, &n.finish());
    }
    Ok(w.finish())
}

/// Reads a workflow description's stored form, of any format up to
/// [`FORMAT`].
///
/// # Errors
/// [`Error::Codec`] for bytes that are not a description, and for a newer
/// format ("written by a newer ork (format N)").
pub fn decode_workflow(bytes: &[u8]) -> Result<WorkflowMeta> {
    let (marker, rest) = header(bytes, "workflow description")?;
    if marker != 0 {
        return v1(bytes);
    }
    let (format, body) = header(rest, "workflow description")?;
    match format {
        2 => v2(body),
        f if f > FORMAT => Err(newer(f)),
        f => Err(Error::Codec(format!(
            "unknown workflow description format {f}"
        ))),
    }
}

fn v2(body: &[u8]) -> Result<WorkflowMeta> {
    let mut meta = WorkflowMeta {
        id: JobId::from(""),
        name: String::new(),
        created_at_ms: 0,
        nodes: Vec::new(),
    };
    for field in Fields::new(body) {
        let (tag, v) = field?;
        match tag {
            ID => meta.id = JobId::from(text(v, "workflow id")?),
            NAME => meta.name = text(v, "workflow name")?,
            CREATED_AT => meta.created_at_ms = uint(v, "created at")?,
            NODE => meta.nodes.push(node(v)?),
            // A field added later, in the same format.
            _ => {}
        }
    }
    Ok(meta)
}

fn node(body: &[u8]) -> Result<NodeMeta> {
    let mut node = NodeMeta {
        task: String::new(),
        deps: Vec::new(),
        allow_failure: false,
    };
    for field in Fields::new(body) {
        let (tag, v) = field?;
        match tag {
            NODE_TASK => node.task = text(v, "node task")?,
            NODE_DEPS => node.deps = value(v, "node deps")?,
            NODE_ALLOW_FAILURE => node.allow_failure = true,
            _ => {}
        }
    }
    Ok(node)
}

/// Format 1: positional bincode, no header. Frozen, as it was.
#[derive(Deserialize)]
struct WorkflowV1 {
    id: JobId,
    name: String,
    created_at_ms: u64,
    nodes: Vec<NodeV1>,
}

#[derive(Deserialize)]
struct NodeV1 {
    task: String,
    deps: Vec<usize>,
    allow_failure: bool,
}

fn v1(bytes: &[u8]) -> Result<WorkflowMeta> {
    let v: WorkflowV1 = value(bytes, "format 1 workflow description")?;
    Ok(WorkflowMeta {
        id: v.id,
        name: v.name,
        created_at_ms: v.created_at_ms,
        nodes: v
            .nodes
            .into_iter()
            .map(|n| NodeMeta {
                task: n.task,
                deps: n.deps,
                allow_failure: n.allow_failure,
            })
            .collect(),
    })
}
