//! The worker threads that run the virtual users.
//!
//! awc is single-threaded (its futures are `!Send`), so each worker is a current-thread tokio
//! runtime with a `LocalSet` and its own `Client`; tasks are handed to the workers round robin
//! and send their result back on a oneshot channel. Dropping the pool ends every task still
//! running (their connections close) and joins the threads, so a failed scenario leaves
//! nothing behind.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::thread::JoinHandle;

use awc::Client;
use tokio::sync::{mpsc, oneshot};

use crate::client::{Error, Result, new_client};

type Job = Box<dyn FnOnce(Rc<Client>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

pub struct Pool {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    threads: Vec<JoinHandle<()>>,
    next: Cell<usize>,
}

impl Pool {
    pub fn new(threads: usize) -> Result<Self> {
        let mut pool = Self {
            senders: Vec::new(),
            threads: Vec::new(),
            next: Cell::new(0),
        };
        for i in 0..threads.max(1) {
            let (tx, rx) = mpsc::unbounded_channel::<Job>();
            let thread = std::thread::Builder::new()
                .name(format!("bench-worker-{i}"))
                .spawn(move || worker(rx))
                .map_err(|e| Error::other(format!("cannot start a worker thread: {e}")))?;
            pool.senders.push(tx);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Runs `task` on the next worker; its output arrives on the returned receiver (which
    /// errs if the task was dropped or panicked).
    pub fn spawn<F, Fut, T>(&self, task: F) -> oneshot::Receiver<T>
    where
        F: FnOnce(Rc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = T> + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |client| {
            Box::pin(async move {
                let _ = tx.send(task(client).await);
            })
        });
        let i = self.next.get();
        self.next.set((i + 1) % self.senders.len());
        // A worker only goes away with the pool: a failed send drops the job, and its
        // receiver then reports the task as gone.
        let _ = self.senders[i].send(job);
        rx
    }
}

fn worker(mut jobs: mpsc::UnboundedReceiver<Job>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chatty-bench: a worker thread cannot start its runtime: {e}");
            return;
        }
    };
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let client = Rc::new(new_client());
        while let Some(job) = jobs.recv().await {
            tokio::task::spawn_local(job(Rc::clone(&client)));
        }
    });
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.senders.clear();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Awaits a task's result; a task that vanished (panic, pool gone) is an error.
pub async fn outcome<T>(rx: oneshot::Receiver<Result<T>>) -> Result<T> {
    rx.await
        .map_err(|_| Error::other("a virtual user's task ended without a result (panic?)"))?
}
