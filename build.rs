fn main() {
    // Only the Node binding needs napi's link set-up; the pure core builds without it.
    if std::env::var_os("CARGO_FEATURE_NODE").is_some() {
        napi_build::setup();
    }
}
