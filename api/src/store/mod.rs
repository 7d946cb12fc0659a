//! Durable state (being written): see the crate docs.
