//! Building a node's arguments from the outputs of the nodes it reads.

use std::collections::HashMap;

use crate::backend::Backend;
use crate::error::TaskError;
use crate::job::{ArgSpec, JobId, JobInfo, JobRecord, JobState};

/// The payload of `record`, assembled from its inputs. An error is final:
/// retrying can't bring a missing output back.
pub(crate) async fn payload(backend: &dyn Backend, record: &JobRecord) -> Result<Vec<u8>, String> {
    let mut ids: Vec<JobId> = Vec::new();
    for input in &record.inputs {
        match input {
            ArgSpec::Output(id) | ArgSpec::OutputOrError(id) => ids.push(id.clone()),
            ArgSpec::All(all) => ids.extend(all.iter().cloned()),
            ArgSpec::Value(_) | ArgSpec::Item => {}
        }
    }
    let found = read(backend, ids).await?;
    let output = |id: &JobId| output_of(&found, id);
    let codec = record.codec;
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(record.inputs.len());
    for input in &record.inputs {
        parts.push(match input {
            ArgSpec::Value(v) => v.clone(),
            ArgSpec::Output(id) => output(id)?,
            ArgSpec::OutputOrError(id) => match found.get(id) {
                Some(info) if info.state == JobState::Dead => {
                    codec.err(&TaskError::new(info.error.clone().unwrap_or_default()))
                }
                _ => codec.ok(&output(id)?),
            },
            ArgSpec::All(all) => {
                let outs = all.iter().map(&output).collect::<Result<Vec<_>, _>>()?;
                let refs: Vec<&[u8]> = outs.iter().map(Vec::as_slice).collect();
                codec.seq(&refs)
            }
            ArgSpec::Item => return Err("a map item outside a map".to_owned()),
        });
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(codec.tuple(&refs))
}

/// The outputs of `ids`, in order; each must have succeeded.
pub(crate) async fn outputs(backend: &dyn Backend, ids: &[JobId]) -> Result<Vec<Vec<u8>>, String> {
    let found = read(backend, ids.to_vec()).await?;
    ids.iter().map(|id| output_of(&found, id)).collect()
}

/// The jobs of `ids` that still have a record.
async fn read(backend: &dyn Backend, ids: Vec<JobId>) -> Result<HashMap<JobId, JobInfo>, String> {
    let infos = backend
        .jobs(&ids)
        .await
        .map_err(|e| format!("could not read inputs: {e}"))?;
    Ok(ids
        .into_iter()
        .zip(infos)
        .filter_map(|(id, info)| info.map(|i| (id, i)))
        .collect())
}

/// The output of input `id`, if it succeeded.
fn output_of(found: &HashMap<JobId, JobInfo>, id: &JobId) -> Result<Vec<u8>, String> {
    let info = found
        .get(id)
        .ok_or_else(|| format!("input {id} is gone (its record expired)"))?;
    match (info.state, &info.result) {
        (JobState::Succeeded, Some(bytes)) => Ok(bytes.clone()),
        (state, _) => Err(format!(
            "input {id} has no output ({state}{})",
            info.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        )),
    }
}
