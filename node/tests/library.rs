//! The library interface: two embedded nodes in one process converge, and change events reach
//! subscribers.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::time::Duration;

use knack_crdt::{Body, Filter, Outcome, ProcedureKind, SpaceName};
use knack_node::{Config, Event, NewProcedureRequest, NodeBuilder};

fn loopback_config(bootstrap: Vec<libp2p::Multiaddr>) -> Config {
    Config {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        quic: false,
        bootstrap,
        sync_interval_ms: 300,
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_nodes_converge_and_publish_events() {
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = NodeBuilder::new(da.path())
        .config(loopback_config(vec![]))
        .build()
        .await
        .unwrap();
    let addr = loop {
        let status = a.status().await.unwrap();
        if let Some(addr) = status.listen_addrs.first() {
            break format!("{addr}/p2p/{}", status.peer_id);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let b = NodeBuilder::new(db.path())
        .config(loopback_config(vec![addr.parse().unwrap()]))
        .build()
        .await
        .unwrap();
    let mut events = b.subscribe();
    let space = SpaceName::new("default").unwrap();
    let id = a
        .add(
            &space,
            NewProcedureRequest {
                name: "retry with backoff".into(),
                description: "for flaky HTTP calls".into(),
                kind: ProcedureKind::Tool,
                tags: vec!["http".into()],
                body: Body::Inline(b"retry(3, exp)".to_vec()),
            },
        )
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(Event::Applied {
                procedures,
                local: false,
                ..
            }) = events.recv().await
            {
                break procedures;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(event, vec![id.to_hex()]);
    let view = b
        .record_outcome(
            &space,
            id,
            Outcome {
                success: true,
                duration_ms: 40,
                contexts: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(view.successes, 1);
    let converged = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let (sa, sb) = (a.status().await.unwrap(), b.status().await.unwrap());
            if sa.spaces[0].digest == sb.spaces[0].digest && sa.spaces[0].ops == 2 {
                break sa.spaces[0].digest.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(converged.is_ok(), "no convergence");
    let top = a.top(&space, 5, Filter::default()).await.unwrap();
    assert_eq!(top[0].successes, 1);
    assert_eq!(
        a.search(&space, knack_search::Query::new("flaky", 5))
            .await
            .unwrap()[0]
            .id,
        id.to_hex()
    );
    a.shutdown().await;
    b.shutdown().await;
    assert!(
        matches!(a.status().await, Err(knack_node::NodeError::Stopped)),
        "a stopped node answers Stopped"
    );
}
