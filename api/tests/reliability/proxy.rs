//! A TCP proxy that can be cut (listener closed, live connections dropped:
//! the database "goes away") and restored on the same port.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// Forwards 127.0.0.1:`port` to `upstream` while up.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    upstream: String,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Listens on a free port.
    pub async fn start(upstream: &str) -> Proxy {
        let mut proxy = Proxy {
            port: 0,
            upstream: upstream.to_string(),
            acceptor: None,
            connections: Arc::default(),
        };
        proxy.restore().await;
        proxy
    }

    /// Listens again (on the same port after the first time).
    pub async fn restore(&mut self) {
        assert!(self.acceptor.is_none(), "the proxy is up already");
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .unwrap_or_else(|e| panic!("the proxy cannot listen on port {}: {e}", self.port));
        let listener = socket.listen(128).unwrap();
        self.port = listener.local_addr().unwrap().port();
        let upstream = self.upstream.clone();
        let connections = self.connections.clone();
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    // Nothing upstream: drop the client, as a dead server would.
                    if let Ok(mut server) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connections.lock().unwrap().push(task);
            }
        }));
    }

    /// Closes the listener (new connections are refused) and drops every
    /// live connection.
    pub async fn cut(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
            let _ = acceptor.await;
        }
        let live: Vec<JoinHandle<()>> = std::mem::take(&mut *self.connections.lock().unwrap());
        for task in live {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        for task in self.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
