//! The committed JSON Schemas in `editor-protocol/schema/` are exactly what
//! the Rust types generate. Run with `WEFT_BLESS=1` to rewrite them after
//! changing a type on purpose.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::Path;

use schemars::{JsonSchema, schema_for};
use weft_editor_protocol::events::RunEvent;
use weft_editor_protocol::flow::FlowDocument;
use weft_editor_protocol::ws::{ClientMessage, ServerMessage};

fn schema<T: JsonSchema>() -> String {
    let mut text = serde_json::to_string_pretty(&schema_for!(T)).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schemas_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let bless = std::env::var_os("WEFT_BLESS").is_some();
    let mut drifted = Vec::new();
    for (name, text) in [
        ("client-message.json", schema::<ClientMessage>()),
        ("server-message.json", schema::<ServerMessage>()),
        ("run-event.json", schema::<RunEvent>()),
        ("flow-document.json", schema::<FlowDocument>()),
    ] {
        let path = dir.join(name);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != text {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "the JSON Schemas {drifted:?} in editor-protocol/schema/ differ from the Rust types; \
         if the change is intended, run `WEFT_BLESS=1 cargo test -p weft-editor-protocol --test schema` \
         and commit the result"
    );
}
