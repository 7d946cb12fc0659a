//! Ports, capabilities and config problems: what `describe` returns.

use std::fmt;

/// One input or output port of a node.
///
/// Inputs are required and single unless made [`optional`](Port::optional)
/// or [`multi`](Port::multi).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The port's name, unique among the node's inputs (or outputs).
    pub name: String,
    /// The port's type in Weft's type language (see [`crate::types`]). For a
    /// multi input, the type of one element.
    pub ty: String,
    /// Inputs: the node cannot run without a live value here. Ignored for
    /// outputs.
    pub required: bool,
    /// Inputs: the port accepts any number of edges and the node receives a
    /// JSON list of the live values, in edge order. Must be false for
    /// outputs.
    pub multi: bool,
    /// One line for the editor.
    pub description: String,
}

impl Port {
    /// A required, single port named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: impl Into<String>) -> Self {
        Port {
            name: name.into(),
            ty: ty.into(),
            required: true,
            multi: false,
            description: String::new(),
        }
    }

    /// Makes an input optional: the node runs without a live value here.
    pub fn optional(mut self) -> Self {
        self.required = false;
        self
    }

    /// Sets whether an input is required (the default for [`Port::new`]).
    pub fn required(mut self, required: bool) -> Self {
        self.required = required;
        self
    }

    /// Makes an input accept any number of edges; the node receives a JSON
    /// list of the live values, in edge order.
    pub fn multi(mut self) -> Self {
        self.multi = true;
        self
    }

    /// Sets the one-line description shown by the editor.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }
}

/// A host capability a node needs. Declare each one the node uses with
/// [`Spec::capability`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Outbound HTTP ([`capabilities::http`](crate::capabilities::http)).
    Http,
    /// Chat completions ([`capabilities::llm`](crate::capabilities::llm)).
    Llm,
    /// Text embeddings
    /// ([`capabilities::embeddings`](crate::capabilities::embeddings)).
    Embeddings,
    /// A vector store ([`capabilities::vectors`](crate::capabilities::vectors)).
    Vectors,
    /// Secrets by name ([`capabilities::secrets`](crate::capabilities::secrets)).
    Secrets,
}

impl Capability {
    /// The capability's name in `node.wit` and in flow grants, e.g. `http`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Http => "http",
            Capability::Llm => "llm",
            Capability::Embeddings => "embeddings",
            Capability::Vectors => "vectors",
            Capability::Secrets => "secrets",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a node looks like for one config: its ports and the capabilities it
/// needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    /// Input ports, in display order.
    pub inputs: Vec<Port>,
    /// Output ports, in display order.
    pub outputs: Vec<Port>,
    /// Capabilities the node uses, without duplicates.
    pub capabilities: Vec<Capability>,
    /// Named grants this config uses (a provider, a collection), without
    /// duplicates: a flow that does not grant one is refused at
    /// validation, naming it.
    pub uses: Vec<(Capability, String)>,
}

impl Spec {
    /// A spec without ports or capabilities.
    pub fn new() -> Self {
        Spec::default()
    }

    /// Adds an input port.
    pub fn input(mut self, port: Port) -> Self {
        self.inputs.push(port);
        self
    }

    /// Adds an output port.
    pub fn output(mut self, port: Port) -> Self {
        self.outputs.push(port);
        self
    }

    /// Declares that the node uses `capability` (duplicates are ignored).
    pub fn capability(mut self, capability: Capability) -> Self {
        if !self.capabilities.contains(&capability) {
            self.capabilities.push(capability);
        }
        self
    }

    /// Declares that this config uses the grant `name` of `capability`
    /// (e.g. the LLM provider `local`); also declares the capability.
    pub fn uses(mut self, capability: Capability, name: impl Into<String>) -> Self {
        let used = (capability, name.into());
        if !self.uses.contains(&used) {
            self.uses.push(used);
        }
        self.capability(capability)
    }

    /// The input port named `name`, if any.
    pub fn find_input(&self, name: &str) -> Option<&Port> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// The output port named `name`, if any.
    pub fn find_output(&self, name: &str) -> Option<&Port> {
        self.outputs.iter().find(|p| p.name == name)
    }
}

/// A problem with a node's config, reported by `describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// JSON pointer into the config object (e.g. `/template`,
    /// `/cases/2/name`); empty for the config as a whole.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl ConfigProblem {
    /// A problem at the JSON pointer `path` (e.g. `/template`).
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A problem with the config field `field` (a top-level key): the path
    /// is `/field`, escaped as a JSON pointer.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ConfigProblem::new(crate::json::pointer_of([field]), message)
    }

    /// A problem with the config as a whole (empty path).
    pub fn whole(message: impl Into<String>) -> Self {
        ConfigProblem::new("", message)
    }
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ConfigProblem {}
