//! The server binary's allocator settings (`server/src/main.rs`): jemalloc with one
//! background thread, which returns the pages a burst of work freed (compaction, every
//! 10 minutes) to the kernel even when the thread that freed them goes quiet. Without it
//! a server with 1,000 edges kept about 40 MiB it no longer used after every block.

mod common;

use common::process::start_server;

/// The names of the process's threads, from `/proc`.
fn thread_names(pid: &str) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

#[tokio::test]
async fn the_server_runs_one_allocator_background_thread() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _addr) = start_server("127.0.0.1:0", dir.path(), &[]).await;
    let names = thread_names(&server.pid());
    let purgers = names.iter().filter(|n| *n == "jemalloc_bg_thd").count();
    assert_eq!(
        purgers, 1,
        "jemalloc's malloc_conf was not applied (threads: {names:?})"
    );
}
