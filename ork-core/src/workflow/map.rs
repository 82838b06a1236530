//! The built-in task behind `Workflow::map`: fans out over a list known only
//! at run time, then gathers the outputs in order.

use serde::{Deserialize, Serialize};

use crate::backend::BoxFuture;
use crate::codec::Codec;
use crate::context::Context;
use crate::error::{Result, TaskError};
use crate::job::{ArgSpec, JobId, JobRecord, JobState};
use crate::task::{RunError, TaskEntry, TaskOptions};

/// The name of the built-in map task.
pub(crate) const MAP_TASK: &str = "ork::map";

/// What a map node stores: the list to read and the call to make per item.
#[derive(Debug, Serialize, Deserialize)]
struct MapSpec {
    list: JobId,
    template: JobRecord,
}

/// The record of a map node over `list`'s output.
pub(crate) fn record(list: JobId, template: JobRecord, codec: Codec) -> Result<JobRecord> {
    let queue = template.queue.clone();
    let priority = template.priority;
    let payload = codec.encode(&MapSpec { list, template })?;
    let mut record = JobRecord::new(MAP_TASK, payload);
    record.codec = codec;
    record.queue = queue;
    record.priority = priority;
    Ok(record)
}

fn split_none(_: usize, _: Codec, _: &[u8]) -> Result<Vec<Vec<u8>>> {
    Err(crate::Error::Invalid("the map task takes no list".into()))
}

inventory::submit! {
    TaskEntry { options: TaskOptions::new(MAP_TASK), run: run_map, split: split_none }
}

fn run_map(
    ctx: Context,
    codec: Codec,
    payload: Vec<u8>,
) -> BoxFuture<'static, Result<Vec<u8>, RunError>> {
    Box::pin(async move {
        let spec: MapSpec = codec
            .decode(&payload)
            .map_err(|e| RunError::Decode(format!("undecodable map node: {e}")))?;
        let fail = |msg: String| RunError::Task(TaskError::new(msg));
        let backend = ctx
            .backend()
            .ok_or_else(|| fail("a map runs only in a worker".into()))?
            .clone();
        let list = backend
            .jobs(std::slice::from_ref(&spec.list))
            .await
            .map_err(|e| fail(e.to_string()))?
            .pop()
            .flatten()
            .filter(|i| i.state == JobState::Succeeded)
            .and_then(|i| i.result)
            .ok_or_else(|| RunError::Decode(format!("the list {} has no output", spec.list)))?;
        let template = spec.template;
        let position = template
            .inputs
            .iter()
            .position(|i| matches!(i, ArgSpec::Item))
            .ok_or_else(|| RunError::Decode("a map template without an item".into()))?;
        let entry = crate::task::find_for(&ctx, &template.task).ok_or_else(|| {
            RunError::Decode(format!("unknown task `{}` in a map", template.task))
        })?;
        let items = (entry.split)(position, codec, &list).map_err(|e| {
            RunError::Decode(format!(
                "the list does not match `{}`'s argument: {e}",
                template.task
            ))
        })?;
        let records: Vec<JobRecord> = items
            .into_iter()
            .map(|item| {
                let mut child = template.clone();
                child.inputs[position] = ArgSpec::Value(item);
                if child.inputs.iter().all(|i| matches!(i, ArgSpec::Value(_))) {
                    let parts: Vec<&[u8]> = child
                        .inputs
                        .iter()
                        .map(|i| match i {
                            ArgSpec::Value(v) => v.as_slice(),
                            _ => &[],
                        })
                        .collect();
                    child.payload = codec.tuple(&parts);
                    child.inputs.clear();
                }
                child
            })
            .collect();
        let ids = ctx
            .spawn_records(records)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let infos = ctx.wait_all(&ids).await.map_err(|e| fail(e.to_string()))?;
        let mut outputs = Vec::with_capacity(infos.len());
        for (i, info) in infos.into_iter().enumerate() {
            match (info.state, info.result) {
                (JobState::Succeeded, Some(bytes)) => outputs.push(bytes),
                (state, _) => {
                    return Err(fail(format!(
                        "item {i} ({}) {state}: {}",
                        template.task,
                        info.error.unwrap_or_default()
                    )))
                }
            }
        }
        let refs: Vec<&[u8]> = outputs.iter().map(Vec::as_slice).collect();
        Ok(codec.seq(&refs))
    })
}
