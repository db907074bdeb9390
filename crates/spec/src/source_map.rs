//! Where each node of a YAML document sits in its file.
//!
//! serde gives typed values but forgets positions; semantic checks (dangling references,
//! overlapping CIDRs, …) happen after deserialization and still have to point at the spec. So the
//! document is read a second time as a stream of parser events, and every mapping key and value
//! is recorded under its path (`/workloads/3/dependsOn/1/workload`, JSON-Pointer style). A check
//! that knows the path of what it is judging asks this map for the position.

use std::collections::HashMap;

use granit_parser::{Event, Parser, Span};

use crate::diag::Location;

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Self {
        Seg::Key(s.to_string())
    }
}
impl From<String> for Seg {
    fn from(s: String) -> Self {
        Seg::Key(s)
    }
}
impl From<usize> for Seg {
    fn from(i: usize) -> Self {
        Seg::Index(i)
    }
}

/// A path into the spec document, e.g. `workloads[3].dependsOn[1].workload`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SpecPath(pub Vec<Seg>);

impl SpecPath {
    pub fn root() -> Self {
        SpecPath(Vec::new())
    }

    /// A child path: `path.at("workloads").at(3)`.
    pub fn at(&self, seg: impl Into<Seg>) -> SpecPath {
        let mut v = self.0.clone();
        v.push(seg.into());
        SpecPath(v)
    }

    /// The JSON Pointer (RFC 6901) of this path.
    pub fn pointer(&self) -> String {
        let mut s = String::new();
        for seg in &self.0 {
            s.push('/');
            match seg {
                Seg::Key(k) => s.push_str(&k.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => s.push_str(&i.to_string()),
            }
        }
        s
    }
}

impl std::fmt::Display for SpecPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) if first => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: usize,
    column: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    key: Option<Pos>,
    value: Pos,
}

/// Positions of the keys and values of one YAML document, by path.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    file: String,
    entries: HashMap<String, Entry>,
}

enum Frame {
    Map { path: SpecPath, key: Option<(String, Pos)> },
    Seq { path: SpecPath, next: usize },
}

fn pos(span: &Span) -> Pos {
    let len = if span.end.line() == span.start.line() { span.end.col().saturating_sub(span.start.col()) } else { 1 };
    Pos { line: span.start.line(), column: span.start.col() + 1, len: len.max(1) }
}

impl SourceMap {
    /// Index the first document of `source`. A document the parser rejects yields a partial map;
    /// syntax errors themselves are reported by the deserializer, which sees the same text.
    pub fn build(file: &str, source: &str) -> SourceMap {
        let mut map = SourceMap { file: file.to_string(), entries: HashMap::new() };
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(source) {
            let Ok((event, span)) = item else { break };
            match event {
                Event::DocumentEnd => break,
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut() {
                        *key = Some((value.into_owned(), pos(&span)));
                        continue;
                    }
                    map.place(&mut stack, pos(&span));
                }
                Event::Alias(_) => {
                    map.place(&mut stack, pos(&span));
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let is_map = matches!(event, Event::MappingStart(..));
                    if let Some(Frame::Map { key: key @ None, .. }) = stack.last_mut() {
                        // A complex (non-scalar) key: give it a placeholder so its subtree does
                        // not corrupt the paths of its siblings.
                        *key = Some(("<complex key>".to_string(), pos(&span)));
                    }
                    let path = map.place(&mut stack, pos(&span));
                    stack.push(if is_map { Frame::Map { path, key: None } } else { Frame::Seq { path, next: 0 } });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        map
    }

    /// Record a value node at the current position of the stack, advance the parent, and return
    /// the node's path.
    fn place(&mut self, stack: &mut [Frame], value: Pos) -> SpecPath {
        let (path, key) = match stack.last_mut() {
            None => (SpecPath::root(), None),
            Some(Frame::Map { path, key }) => match key.take() {
                Some((k, kpos)) => (path.at(k), Some(kpos)),
                None => (path.at("<complex key>"), None),
            },
            Some(Frame::Seq { path, next }) => {
                let p = path.at(*next);
                *next += 1;
                (p, None)
            }
        };
        self.entries.insert(path.pointer(), Entry { key, value });
        path
    }

    fn loc(&self, p: Pos) -> Location {
        Location { file: self.file.clone(), line: p.line, column: p.column, len: p.len }
    }

    /// Where the value at `path` starts; falls back to the nearest ancestor that exists, so a
    /// missing optional field still points at the object that lacks it.
    pub fn value(&self, path: &SpecPath) -> Option<Location> {
        let mut p = path.0.clone();
        loop {
            if let Some(e) = self.entries.get(&SpecPath(p.clone()).pointer()) {
                return Some(self.loc(e.value));
            }
            p.pop()?;
        }
    }

    /// Where the key of the mapping entry at `path` is; falls back like [`SourceMap::value`].
    pub fn key(&self, path: &SpecPath) -> Option<Location> {
        match self.entries.get(&path.pointer()) {
            Some(Entry { key: Some(k), .. }) => Some(self.loc(*k)),
            _ => self.value(path),
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keys_values_and_indices() {
        let src = "a: 1\nlist:\n  - x: foo\n    y: [1, 2]\n  - bar\n";
        let m = SourceMap::build("f.yaml", src);
        let x = SpecPath::root().at("list").at(0).at("x");
        let v = m.value(&x).expect("x");
        assert_eq!((v.line, v.column, v.len), (3, 8, 3));
        let k = m.key(&x).expect("x key");
        assert_eq!((k.line, k.column), (3, 5));
        let y1 = SpecPath::root().at("list").at(0).at("y").at(1);
        let v = m.value(&y1).expect("y1");
        assert_eq!((v.line, v.column), (4, 12));
        let second = SpecPath::root().at("list").at(1);
        assert_eq!(m.value(&second).map(|l| l.line), Some(5));
    }

    #[test]
    fn falls_back_to_nearest_ancestor() {
        let m = SourceMap::build("f.yaml", "a:\n  b: 1\n");
        let missing = SpecPath::root().at("a").at("c");
        assert_eq!(m.value(&missing).map(|l| l.line), Some(2));
    }

    #[test]
    fn pointer_escapes_slashes() {
        let p = SpecPath::root().at("labels").at("app.kubernetes.io/name");
        assert_eq!(p.pointer(), "/labels/app.kubernetes.io~1name");
        assert_eq!(p.to_string(), "labels.app.kubernetes.io/name");
    }
}
