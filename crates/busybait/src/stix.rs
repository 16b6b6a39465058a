//! `busybait export --format stix`: a STIX 2.1 bundle of a window's indicators.
//!
//! Cyber-observables get the spec's deterministic UUIDv5 ids (the namespace of §2.9
//! over the canonical JSON of their ID-contributing properties); every other object's
//! id is a SHA-256 of its defining content shaped as a UUIDv4. Timestamps are the
//! data's first and last sightings, cut to milliseconds. So the same data gives the
//! same bytes.
//!
//! Per indicator: the observable, an `indicator` with its STIX pattern, the
//! `observed-data` that saw it and a `sighting` by the sensor's `identity`. Per family
//! seen in the window: a `malware` with `is_family: true`, and an `indicates`
//! `relationship` from each indicator seen in that family's sessions. Per exploit
//! web requests carried: an `attack-pattern` (with its CVE as an external reference)
//! and, with a CVE, the `vulnerability` it `targets`.

use std::collections::{BTreeMap, BTreeSet};

use busybait_store::read::{ExploitRow, FileDetails, IndicatorKind, IndicatorRow};
use busybait_store::report::Family;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// STIX's namespace for deterministic cyber-observable ids (STIX 2.1 §2.9).
const SCO_NAMESPACE: uuid::Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

/// The deterministic id of an observable from its ID-contributing properties.
pub fn sco_id(kind: &str, contributing: &Value) -> String {
    // serde_json sorts object keys and writes no whitespace: RFC 8785 form for the
    // ASCII and UTF-8 strings these carry.
    let canonical = contributing.to_string();
    format!(
        "{kind}--{}",
        uuid::Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
    )
}

/// A uuid derived from `content`: its SHA-256 shaped as a UUIDv4 (what the strict
/// validator expects of non-observable ids; MISP uses the same).
pub(crate) fn hashed_uuid(content: &str) -> uuid::Uuid {
    let digest = Sha256::digest(content.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// An id for a non-observable object, from its defining content.
fn object_id(kind: &str, content: &str) -> String {
    format!("{kind}--{}", hashed_uuid(&format!("{kind}\0{content}")))
}

/// A stored timestamp (microseconds) as STIX wants it (milliseconds).
fn millis(ts: &str) -> String {
    match ts.split_once('.') {
        Some((secs, frac)) => {
            let digits: String = frac.chars().filter(char::is_ascii_digit).take(3).collect();
            format!("{secs}.{digits:0<3}Z")
        }
        None => ts.trim_end_matches('Z').to_string() + ".000Z",
    }
}

/// A string inside a STIX pattern's single quotes.
fn pattern_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// The observable and the pattern for an indicator.
fn observable(row: &IndicatorRow, files: &BTreeMap<String, FileDetails>) -> (Value, String) {
    let v = row.value.as_str();
    match row.kind {
        IndicatorKind::Ip | IndicatorKind::C2 => {
            // A C2 is `host[:port]`; the port is not part of the observable.
            let host = match row.kind {
                IndicatorKind::C2 => v.rsplit_once(':').map_or(v, |(h, p)| {
                    if p.chars().all(|c| c.is_ascii_digit()) {
                        h
                    } else {
                        v
                    }
                }),
                _ => v,
            };
            let kind = match host.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(_)) => "ipv4-addr",
                Ok(std::net::IpAddr::V6(_)) => "ipv6-addr",
                Err(_) => "domain-name",
            };
            let id = sco_id(kind, &json!({ "value": host }));
            let sco = json!({"type": kind, "spec_version": "2.1", "id": id, "value": host});
            (sco, format!("[{kind}:value = '{}']", pattern_string(host)))
        }
        IndicatorKind::Url => {
            let id = sco_id("url", &json!({ "value": v }));
            let sco = json!({"type": "url", "spec_version": "2.1", "id": id, "value": v});
            (sco, format!("[url:value = '{}']", pattern_string(v)))
        }
        IndicatorKind::Sha256 => {
            let hashes = json!({ "SHA-256": v });
            let details = files.get(v).cloned().unwrap_or_default();
            let mut contributing = serde_json::Map::new();
            contributing.insert("hashes".into(), hashes.clone());
            let mut sco = serde_json::Map::new();
            sco.insert("type".into(), "file".into());
            sco.insert("spec_version".into(), "2.1".into());
            sco.insert("hashes".into(), hashes);
            if let Some(name) = &details.name {
                contributing.insert("name".into(), name.as_str().into());
                sco.insert("name".into(), name.as_str().into());
            }
            if let Some(size) = details.size {
                sco.insert("size".into(), size.into());
            }
            sco.insert(
                "id".into(),
                sco_id("file", &Value::Object(contributing)).into(),
            );
            let sco = Value::Object(sco);
            (
                sco,
                format!("[file:hashes.'SHA-256' = '{}']", pattern_string(v)),
            )
        }
    }
}

/// What a window saw, for the bundle.
pub struct Seen<'a> {
    /// The indicators.
    pub rows: &'a [IndicatorRow],
    /// The families labelled.
    pub families: &'a [Family],
    /// The families each indicator appeared with.
    pub families_of: &'a BTreeMap<(IndicatorKind, String), BTreeSet<String>>,
    /// Names and sizes of dropped files.
    pub files: &'a BTreeMap<String, FileDetails>,
    /// The exploits web requests carried.
    pub exploits: &'a [ExploitRow],
}

/// The bundle.
pub fn bundle(sensor_uuid: &str, seen: &Seen<'_>) -> Value {
    let Seen {
        rows,
        families,
        families_of,
        files,
        exploits,
    } = *seen;
    let earliest = rows
        .iter()
        .map(|r| r.first_seen.as_str())
        .chain(families.iter().map(|f| f.first_seen.as_str()))
        .chain(exploits.iter().map(|e| e.first_seen.as_str()))
        .min()
        .map(millis)
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".to_string());
    let identity_id = object_id("identity", sensor_uuid);
    let mut objects = vec![json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id,
        "created": earliest,
        "modified": earliest,
        "name": format!("busybait sensor {sensor_uuid}"),
        "identity_class": "system",
    })];
    let mut malware_ids = BTreeMap::new();
    for f in families {
        let id = object_id("malware", &f.family);
        malware_ids.insert(f.family.clone(), id.clone());
        objects.push(json!({
            "type": "malware",
            "spec_version": "2.1",
            "id": id,
            "created": millis(&f.first_seen),
            "modified": millis(&f.last_seen),
            "created_by_ref": identity_id,
            "name": f.family,
            "is_family": true,
            "malware_types": ["bot"],
            "first_seen": millis(&f.first_seen),
            "last_seen": millis(&f.last_seen),
        }));
    }
    let mut seen_scos = BTreeSet::new();
    for row in rows {
        let (sco, pattern) = observable(row, files);
        let sco_ref = sco
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let first = millis(&row.first_seen);
        let last = millis(&row.last_seen);
        let indicator_id = object_id("indicator", &pattern);
        let observed_id = object_id("observed-data", &format!("{sco_ref}\0{first}\0{last}"));
        let (name, what) = match row.kind {
            IndicatorKind::Ip => ("source of bot sessions", "sessions opened"),
            IndicatorKind::Url => ("URL bots downloaded from", "requests"),
            IndicatorKind::Sha256 => ("file bots dropped", "drops"),
            IndicatorKind::C2 => (
                "C2 recovered from a dropped file",
                "drops of files naming it",
            ),
        };
        let description = format!(
            "Seen by busybait sensor {sensor_uuid}: {} {what} between {first} and {last}.",
            row.count
        );
        if seen_scos.insert(sco_ref.clone()) {
            objects.push(sco);
        }
        objects.push(json!({
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id,
            "created": first,
            "modified": last,
            "created_by_ref": identity_id,
            "name": name,
            "description": description,
            "indicator_types": ["malicious-activity"],
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": first,
        }));
        objects.push(json!({
            "type": "observed-data",
            "spec_version": "2.1",
            "id": observed_id,
            "created": first,
            "modified": last,
            "created_by_ref": identity_id,
            "first_observed": first,
            "last_observed": last,
            "number_observed": row.count.max(1),
            "object_refs": [sco_ref],
        }));
        objects.push(json!({
            "type": "sighting",
            "spec_version": "2.1",
            "id": object_id("sighting", &format!("{indicator_id}\0{observed_id}")),
            "created": first,
            "modified": last,
            "created_by_ref": identity_id,
            "first_seen": first,
            "last_seen": last,
            "count": row.count.max(1),
            "sighting_of_ref": indicator_id,
            "observed_data_refs": [observed_id],
            "where_sighted_refs": [identity_id],
        }));
        let key = (row.kind, row.value.clone());
        for family in families_of.get(&key).into_iter().flatten() {
            if let Some(malware_id) = malware_ids.get(family) {
                objects.push(json!({
                    "type": "relationship",
                    "spec_version": "2.1",
                    "id": object_id("relationship", &format!("{indicator_id}\0indicates\0{malware_id}")),
                    "created": first,
                    "modified": last,
                    "created_by_ref": identity_id,
                    "relationship_type": "indicates",
                    "source_ref": indicator_id,
                    "target_ref": malware_id,
                }));
            }
        }
    }
    for e in exploits {
        exploit_objects(&identity_id, sensor_uuid, e, &mut objects);
    }
    let ids: Vec<&str> = objects
        .iter()
        .filter_map(|o| o.get("id").and_then(Value::as_str))
        .collect();
    json!({
        "type": "bundle",
        "id": object_id("bundle", &ids.join("\0")),
        "objects": objects,
    })
}

/// An exploit's `attack-pattern` and, with a CVE, its `vulnerability` and the
/// `targets` relationship between them.
fn exploit_objects(identity_id: &str, sensor_uuid: &str, e: &ExploitRow, objects: &mut Vec<Value>) {
    let first = millis(&e.first_seen);
    let last = millis(&e.last_seen);
    let cve_reference = e
        .cve
        .as_ref()
        .map(|cve| json!([{"source_name": "cve", "external_id": cve}]));
    let pattern_id = object_id("attack-pattern", &e.exploit);
    let mut pattern = json!({
        "type": "attack-pattern",
        "spec_version": "2.1",
        "id": pattern_id,
        "created": first,
        "modified": last,
        "created_by_ref": identity_id,
        "name": e.exploit,
        "description": format!(
            "Command injection into an IoT device's web service (busybait exploit table entry {}), seen by busybait sensor {sensor_uuid}: {} request(s) between {first} and {last}.",
            e.exploit, e.count
        ),
    });
    if let (Some(refs), Some(map)) = (&cve_reference, pattern.as_object_mut()) {
        map.insert("external_references".into(), refs.clone());
    }
    objects.push(pattern);
    if let (Some(cve), Some(refs)) = (&e.cve, cve_reference) {
        let vulnerability_id = object_id("vulnerability", cve);
        objects.push(json!({
            "type": "vulnerability",
            "spec_version": "2.1",
            "id": vulnerability_id,
            "created": first,
            "modified": last,
            "created_by_ref": identity_id,
            "name": cve,
            "external_references": refs,
        }));
        objects.push(json!({
            "type": "relationship",
            "spec_version": "2.1",
            "id": object_id("relationship", &format!("{pattern_id}\0targets\0{vulnerability_id}")),
            "created": first,
            "modified": last,
            "created_by_ref": identity_id,
            "relationship_type": "targets",
            "source_ref": pattern_id,
            "target_ref": vulnerability_id,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observable_ids_follow_the_uuidv5_rule() {
        assert_eq!(
            sco_id("ipv4-addr", &json!({"value": "203.0.113.45"})),
            "ipv4-addr--cb9d70c5-d244-531c-9efb-bcae57adc793"
        );
    }

    #[test]
    fn other_ids_are_uuidv4_shaped_and_stable() {
        let a = object_id("indicator", "[url:value = 'x']");
        assert_eq!(a, object_id("indicator", "[url:value = 'x']"));
        let u = uuid::Uuid::parse_str(a.strip_prefix("indicator--").unwrap()).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn timestamps_and_patterns_are_stix_shaped() {
        assert_eq!(
            millis("2026-11-26T08:00:00.123456Z"),
            "2026-11-26T08:00:00.123Z"
        );
        assert_eq!(millis("2026-11-26T08:00:00Z"), "2026-11-26T08:00:00.000Z");
        assert_eq!(pattern_string("a'b\\c"), "a\\'b\\\\c");
    }
}
