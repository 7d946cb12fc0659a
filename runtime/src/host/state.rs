//! Per-call store state: the WASI context (nothing granted), the memory
//! limiter, and the node's link to the run's event stream.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use weft_editor_protocol::events::{EventBody, LogLevel, LogSource, NodeEmit, NodeLog};

use crate::events::RunEmitter;

/// Longest log line kept; the rest is cut with a marker.
const MAX_LOG_LINE: usize = 8 * 1024;

/// Where a node's logs and emits go: the run's emitter and the node's id.
#[derive(Debug, Clone)]
pub struct NodeEvents {
    pub emitter: Arc<RunEmitter>,
    pub node: Arc<str>,
}

impl NodeEvents {
    pub fn log(&self, level: LogLevel, source: LogSource, message: String) {
        self.emitter.emit(EventBody::NodeLog(NodeLog {
            node: self.node.to_string(),
            level,
            source,
            message,
        }));
    }

    pub fn emit(&self, port: String, value: serde_json::Value) {
        self.emitter.emit(EventBody::NodeEmit(NodeEmit {
            node: self.node.to_string(),
            port,
            value,
        }));
    }
}

/// The data of one node call's `Store`.
#[allow(missing_debug_implementations)]
pub struct NodeState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    /// `None` while describing (no run to report to).
    pub(crate) events: Option<NodeEvents>,
    /// Hard deadline checked at every epoch tick.
    pub(crate) deadline: Instant,
    pub(crate) deadline_hit: bool,
    /// The last lines the guest wrote to stderr, quoted in trap errors
    /// (a Rust guest's panic message arrives this way).
    pub(crate) stderr_tail: Arc<std::sync::Mutex<Vec<String>>>,
    /// What the flow grants; capability calls check it.
    pub(crate) grants: Arc<weft_editor_protocol::flow::Capabilities>,
    /// The providers behind the capabilities.
    pub(crate) services: Arc<crate::capabilities::Services>,
    /// Tokens and cost of the LLM and embedding calls of this call.
    pub(crate) usage: Option<crate::capabilities::llm::TokenUsage>,
    pub(crate) cost: Option<f64>,
}

impl WasiView for NodeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps a node's linear memory; remembers whether the cap was hit so the
/// resulting trap can be reported as `memory limit exceeded`.
#[derive(Debug)]
pub struct MemoryLimiter {
    pub(crate) max_bytes: usize,
    pub(crate) hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A guest's stdout or stderr: complete lines become `node.log` events.
#[derive(Clone, Debug)]
pub struct LogPipe {
    events: Option<NodeEvents>,
    source: LogSource,
    tail: Option<Arc<std::sync::Mutex<Vec<String>>>>,
}

impl LogPipe {
    pub fn new(
        events: Option<NodeEvents>,
        source: LogSource,
        tail: Option<Arc<std::sync::Mutex<Vec<String>>>>,
    ) -> Self {
        LogPipe {
            events,
            source,
            tail,
        }
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LogStream {
            pipe: self.clone(),
            buf: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 guests use this path; Weft guests are WASIp2.
        Box::new(tokio::io::sink())
    }
}

struct LogStream {
    pipe: LogPipe,
    buf: Vec<u8>,
}

impl LogStream {
    fn line(&mut self, raw: &[u8]) {
        let mut text = String::from_utf8_lossy(raw)
            .trim_end_matches('\r')
            .to_string();
        if text.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" …[line truncated]");
        }
        if let Some(tail) = &self.pipe.tail
            && let Ok(mut t) = tail.lock()
        {
            if t.len() >= 8 {
                t.remove(0);
            }
            t.push(text.clone());
        }
        if let Some(events) = &self.pipe.events {
            let level = match self.pipe.source {
                LogSource::Stderr => LogLevel::Warn,
                _ => LogLevel::Info,
            };
            events.log(level, self.pipe.source, text);
        }
    }

    fn drain_lines(&mut self) {
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let rest = self.buf.split_off(pos + 1);
            let line = std::mem::replace(&mut self.buf, rest);
            self.line(&line[..line.len() - 1]);
        }
        // A runaway line without newlines is flushed in pieces.
        if self.buf.len() > MAX_LOG_LINE {
            let line = std::mem::take(&mut self.buf);
            self.line(&line);
        }
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            let line = std::mem::take(&mut self.buf);
            self.line(&line);
        }
    }
}

#[async_trait::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.buf.extend_from_slice(&bytes);
        self.drain_lines();
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}
