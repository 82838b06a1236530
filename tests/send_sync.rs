//! Public types and futures are Send (and Sync where shared), so they work
//! inside axum handlers and spawned tasks.

use std::future::Future;

use ork::prelude::*;
use ork::workflow::Workflow;

fn is_send<T: Send>(_: &T) {}
fn is_send_sync<T: Send + Sync>() {}
fn future_is_send<F: Future + Send>(_: F) {}

#[ork::task]
async fn unit() -> ork::Result<u8> {
    Ok(1)
}

#[test]
fn public_types_and_futures_are_send() {
    is_send_sync::<Ork>();
    is_send_sync::<JobHandle<u8>>();
    is_send_sync::<Context>();
    is_send_sync::<ork::WorkflowHandle>();
    is_send_sync::<ork::Error>();
    is_send::<ork::Call<u8>>(&unit::call());
    is_send::<Workflow>(&Workflow::new("w"));

    let ork = Ork::memory();
    let handle = ork.handle::<u8>("id");
    future_is_send(ork.enqueue(unit::call()));
    future_is_send(ork.enqueue_many([unit::call()]));
    future_is_send(handle.result());
    future_is_send(handle.status());
    future_is_send(handle.cancel());
    future_is_send(ork.submit(Workflow::new("w")));
    future_is_send(ork.worker().run_until(async {}));
    future_is_send(ork.dead_letters(1));
    let ctx = Context::detached(ork::StateMap::default());
    future_is_send(ctx.map(Vec::<u8>::new(), |_| unit::call()));
    future_is_send(ctx.spawn(unit::call()));
}
