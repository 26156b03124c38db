//! `Config::from_json` reads the options object a merchant's page passes in. It must never
//! panic; what it accepts must be valid, and must survive `serde_json::to_string` and
//! `from_json` again unchanged (the shells hand configs back and forth as JSON).

#![no_main]

use checkout_guard::core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::from_json(text) else {
        return;
    };
    if let Err(err) = config.validate() {
        panic!("accepted config fails validate: {err}");
    }
    let json = serde_json::to_string(&config).expect("a config serialises");
    match Config::from_json(&json) {
        Ok(again) => assert_eq!(again, config, "round trip changed the config"),
        Err(err) => panic!("re-serialised config is refused: {err}\njson: {json}"),
    }
});
