//! One event's JSON line, written without building a `serde_json::Value`: each
//! field is serialised as it is named and the object is put together in key order,
//! which is the order a `serde_json::Map` (a `BTreeMap`) gives and every line so far
//! has had. Building a `Value` tree first (a `String` per key, a node per field,
//! then a walk to write it) was most of an event's cost on the way to disk.

use std::ops::Range;

use serde::Serialize;

/// A JSON object's fields, each already serialised.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    /// The values' JSON, one after the other.
    values: Vec<u8>,
    /// Each key with where its value lies in `values`.
    entries: Vec<(&'static str, Range<usize>)>,
}

impl Fields {
    /// Sets `key` to `value`; a later value for the same key replaces the earlier
    /// one, as in a map. Keys are ours: plain ASCII, nothing to escape.
    pub(crate) fn insert<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) {
        let start = self.values.len();
        if serde_json::to_writer(&mut self.values, value).is_err() {
            // Only a map with non-string keys fails; no event field is one.
            self.values.truncate(start);
            self.values.extend_from_slice(b"null");
        }
        let range = start..self.values.len();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = range,
            None => self.entries.push((key, range)),
        }
    }

    /// The object, keys in byte order, compact.
    pub(crate) fn finish(mut self) -> String {
        self.entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let keys: usize = self.entries.iter().map(|(k, _)| k.len() + 4).sum();
        let mut out = String::with_capacity(self.values.len() + keys + 2);
        out.push('{');
        for (i, (key, range)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            // serde_json writes UTF-8; a value cut anywhere else cannot happen.
            let value = self.values.get(range.clone()).unwrap_or(b"null");
            out.push_str(std::str::from_utf8(value).unwrap_or("null"));
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_out_in_map_order_and_a_later_value_wins() {
        let mut f = Fields::default();
        f.insert("src_port", &23u16);
        f.insert("dst_ip", "127.0.0.1");
        f.insert("b", &Some(1.5f64));
        f.insert("dst_ip", "10.0.0.1");
        f.insert("a", &None::<String>);
        f.insert("c", &vec![("k".to_string(), "v\"\n".to_string())]);
        let line = f.finish();
        assert_eq!(
            line,
            r#"{"a":null,"b":1.5,"c":[["k","v\"\n"]],"dst_ip":"10.0.0.1","src_port":23}"#
        );
        let mut map = serde_json::Map::new();
        map.insert("src_port".into(), 23.into());
        map.insert("dst_ip".into(), "10.0.0.1".into());
        map.insert("b".into(), 1.5.into());
        map.insert("a".into(), serde_json::Value::Null);
        map.insert("c".into(), serde_json::json!([["k", "v\"\n"]]));
        assert_eq!(serde_json::to_string(&map).unwrap(), line);
    }
}
