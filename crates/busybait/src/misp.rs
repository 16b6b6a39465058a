//! `busybait export --format misp`: a MISP event (`{"Event": …}`) of a window's
//! indicators: `ip-src` for sources, `url` for requested URLs, `sha256` attributes and
//! a `file` object per dropped file, `ip-dst|port`/`domain|port` for recovered C2s,
//! `vulnerability` for the CVEs of exploits web requests carried, tagged with TLP and
//! the families seen. Uuids and timestamps come from the data, so
//! the same data gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use busybait_store::read::{ExploitRow, FileDetails, IndicatorKind, IndicatorRow};
use busybait_store::report::Family;
use serde_json::{json, Value};

/// MISP's `file` object template (misp-objects, `objects/file/definition.json`).
const FILE_TEMPLATE_UUID: &str = "688c46fb-5edb-40a3-8273-1af7923e2215";
/// The template version the object follows.
const FILE_TEMPLATE_VERSION: &str = "24";

/// A uuid derived from `content`.
fn uuid_of(content: &str) -> String {
    crate::stix::hashed_uuid(content).to_string()
}

/// A stored RFC 3339 time as seconds since the epoch (MISP's `timestamp`).
fn epoch(ts: &str) -> u64 {
    humantime::parse_rfc3339(ts)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The MISP type and value of an indicator.
fn misp_type(row: &IndicatorRow) -> (&'static str, &'static str, String) {
    let v = row.value.clone();
    match row.kind {
        IndicatorKind::Ip => ("ip-src", "Network activity", v),
        IndicatorKind::Url => ("url", "Network activity", v),
        IndicatorKind::Sha256 => ("sha256", "Payload delivery", v),
        IndicatorKind::C2 => {
            let (host, port) = match v.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                    (h.to_string(), Some(p.to_string()))
                }
                _ => (v.clone(), None),
            };
            let is_ip = host.parse::<std::net::IpAddr>().is_ok();
            match (is_ip, port) {
                (true, Some(p)) => ("ip-dst|port", "Network activity", format!("{host}|{p}")),
                (false, Some(p)) => ("domain|port", "Network activity", format!("{host}|{p}")),
                (true, None) => ("ip-dst", "Network activity", host),
                (false, None) => ("domain", "Network activity", host),
            }
        }
    }
}

/// The event.
pub fn event(
    sensor_uuid: &str,
    tlp: &str,
    rows: &[IndicatorRow],
    families: &[Family],
    files: &BTreeMap<String, FileDetails>,
    exploits: &[ExploitRow],
) -> Value {
    let first = rows
        .iter()
        .map(|r| r.first_seen.as_str())
        .min()
        .unwrap_or("");
    let last = rows
        .iter()
        .map(|r| r.last_seen.as_str())
        .max()
        .unwrap_or("");
    let date = first.get(..10).unwrap_or("1970-01-01");
    let mut attributes = Vec::new();
    let mut objects = Vec::new();
    for row in rows {
        let (kind, category, value) = misp_type(row);
        let comment = format!(
            "busybait: seen {} time(s) between {} and {}",
            row.count, row.first_seen, row.last_seen
        );
        let attribute = |kind: &str, category: &str, value: &str, relation: Option<&str>| {
            let mut a = json!({
                "uuid": uuid_of(&format!("{sensor_uuid}\0{kind}\0{value}\0{}", relation.unwrap_or(""))),
                "type": kind,
                "category": category,
                "value": value,
                "to_ids": relation != Some("size-in-bytes"),
                "distribution": "5",
                "timestamp": epoch(&row.last_seen).to_string(),
                "first_seen": row.first_seen,
                "last_seen": row.last_seen,
                "comment": comment,
            });
            if let (Some(rel), Some(map)) = (relation, a.as_object_mut()) {
                map.insert("object_relation".into(), rel.into());
            }
            a
        };
        attributes.push(attribute(kind, category, &value, None));
        if row.kind == IndicatorKind::Sha256 {
            let details = files.get(&value).cloned().unwrap_or_default();
            let mut in_object = vec![attribute("sha256", category, &value, Some("sha256"))];
            if let Some(name) = &details.name {
                attributes.push(attribute(
                    "filename|sha256",
                    category,
                    &format!("{name}|{value}"),
                    None,
                ));
                in_object.push(attribute("filename", category, name, Some("filename")));
            }
            if let Some(size) = details.size {
                in_object.push(attribute(
                    "size-in-bytes",
                    "Other",
                    &size.to_string(),
                    Some("size-in-bytes"),
                ));
            }
            objects.push(json!({
                "uuid": uuid_of(&format!("{sensor_uuid}\0file-object\0{value}")),
                "name": "file",
                "meta-category": "file",
                "description": "File object describing a file with meta-information",
                "template_uuid": FILE_TEMPLATE_UUID,
                "template_version": FILE_TEMPLATE_VERSION,
                "distribution": "5",
                "timestamp": epoch(&row.last_seen).to_string(),
                "first_seen": row.first_seen,
                "last_seen": row.last_seen,
                "comment": comment,
                "Attribute": in_object,
            }));
        }
    }
    // Exploits with a CVE: MISP's `vulnerability` attribute (not for IDS).
    for e in exploits {
        let Some(cve) = &e.cve else { continue };
        attributes.push(json!({
            "uuid": uuid_of(&format!("{sensor_uuid}\0vulnerability\0{cve}")),
            "type": "vulnerability",
            "category": "External analysis",
            "value": cve,
            "to_ids": false,
            "distribution": "5",
            "timestamp": epoch(&e.last_seen).to_string(),
            "first_seen": e.first_seen,
            "last_seen": e.last_seen,
            "comment": format!(
                "busybait: exploit {} in {} web request(s) between {} and {}",
                e.exploit, e.count, e.first_seen, e.last_seen
            ),
        }));
    }
    let mut tags = vec![json!({ "name": format!("tlp:{tlp}") })];
    let families: BTreeSet<&str> = families.iter().map(|f| f.family.as_str()).collect();
    for f in families {
        tags.push(json!({ "name": format!("busybait:family=\"{f}\"") }));
    }
    json!({
        "Event": {
            "uuid": uuid_of(&format!("{sensor_uuid}\0event\0{first}\0{last}")),
            "info": format!("busybait sensor {sensor_uuid}: bot activity {first} to {last}"),
            "date": date,
            "timestamp": epoch(last).to_string(),
            "threat_level_id": "3",
            "analysis": "2",
            "distribution": "0",
            "published": false,
            "Attribute": attributes,
            "Object": objects,
            "Tag": tags,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: IndicatorKind, value: &str) -> IndicatorRow {
        IndicatorRow {
            kind,
            value: value.into(),
            first_seen: "2026-11-26T08:00:00.000000Z".into(),
            last_seen: "2026-11-26T09:00:00.000000Z".into(),
            count: 1,
        }
    }

    #[test]
    fn c2_endpoints_map_to_misp_types() {
        let t = |v| {
            let (k, _, v) = misp_type(&row(IndicatorKind::C2, v));
            (k, v)
        };
        assert_eq!(
            t("cnc.example:23"),
            ("domain|port", "cnc.example|23".to_string())
        );
        assert_eq!(
            t("198.51.100.7:48101"),
            ("ip-dst|port", "198.51.100.7|48101".to_string())
        );
        assert_eq!(t("cnc.example"), ("domain", "cnc.example".to_string()));
        assert_eq!(epoch("2026-11-26T09:00:00.000000Z"), 1_795_683_600);
    }
}
