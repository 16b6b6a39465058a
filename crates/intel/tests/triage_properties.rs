//! Triage and the classifier on arbitrary bytes: never a panic, always a result.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use busybait_intel::classify::{Rules, SessionFacts};
use busybait_intel::triage::triage;
use proptest::prelude::*;

fn elf_prefix() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        any::<u8>(),
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(|(c, d, m, rest)| {
            let mut v = vec![0x7f, b'E', b'L', b'F', c % 3, d % 3, 1, 0];
            v.resize(16, 0);
            v.extend_from_slice(&[2, 0]);
            v.extend_from_slice(&m.to_le_bytes());
            v.extend(rest);
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, .. ProptestConfig::default() })]

    #[test]
    fn triage_never_panics_on_anything(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let t = triage(&data);
        prop_assert_eq!(t.size, data.len() as u64);
        prop_assert!(t.strings.len() <= 200 && t.urls.len() <= 100);
    }

    #[test]
    fn triage_never_panics_on_elf_like_input(data in elf_prefix()) {
        let t = triage(&data);
        prop_assert_eq!(t.kind, busybait_intel::triage::FileKind::Elf);
    }

    #[test]
    fn classify_never_panics(commands in proptest::collection::vec(".{0,80}", 0..10)) {
        let rules = Rules::builtin().unwrap();
        let facts = SessionFacts { commands, ..SessionFacts::default() };
        let label = rules.classify(&facts);
        prop_assert!(label.confidence >= 0.0 && label.confidence <= 1.0);
    }
}
