use ork::prelude::*;
use std::time::Instant;

#[ork::task]
async fn big(v: Vec<u8>) -> ork::Result<usize> {
    Ok(v.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_workflow() {
    let b = ork_redis::testing::backend().await;
    let ork = Ork::with_backend(b.clone());
    let mut flow = Workflow::new("big");
    flow.add(big::call(vec![0u8; 600 * 1024]));
    let err = ork.submit(flow).await.unwrap_err();
    println!("err: {err}");
    let wfs = ork.workflows(0, 10).await.unwrap();
    println!("workflows after a refused submit: {}", wfs.len());
    for w in wfs {
        println!("state {:?}", w.state().await.unwrap());
    }
}

#[test]
fn cluster_start_time() {
    let t = Instant::now();
    let c = ork_redis::testing::RedisCluster::start(3);
    println!("cluster start {:?}", t.elapsed());
    let t = Instant::now();
    drop(c);
    println!("cluster drop {:?}", t.elapsed());
    let t = Instant::now();
    let s = ork_redis::testing::RedisServer::builder().tls(true).start();
    println!("tls server start {:?}", t.elapsed());
    drop(s);
}
