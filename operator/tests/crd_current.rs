//! The committed CRD must be what the code generates: `make crds` rewrites it.

#[test]
fn the_committed_crd_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/coupleapps.couple.dev.yaml");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = couple_operator::crd_yaml();
    assert!(committed == generated, "crds/coupleapps.couple.dev.yaml is stale or missing: run `make crds` and commit the result");
}
