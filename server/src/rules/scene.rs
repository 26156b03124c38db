//! Which payment scene an order is paid in, read from its content, so that the fingerprint
//! covers it: a change of scene (or of payer) is a content change, and rule 1.3 closes the old
//! scene's attempt before a prepay of the new shape exists. A live attempt is therefore never
//! handed to a client of another scene.
//!
//! The content keys: `scene` (`native`, the default; `miniprogram`; `jsapi` for the official
//! account; `h5`) and `payerId` (the WeChat `openid`, which both JSAPI scenes need). H5 also
//! needs the buyer's IP address, which is the create request's, not the order's.

use super::RuleError;
use crate::provider::Scene;
use serde_json::Value;
use std::net::IpAddr;

/// The content key naming the scene.
pub const SCENE: &str = "scene";
/// The content key holding the payer's id at the provider (an openid).
pub const PAYER_ID: &str = "payerId";

/// The scenes, as spelled in `content.scene`.
pub const SCENES: [&str; 4] = ["native", "miniprogram", "jsapi", "h5"];

/// Checks `content`'s scene and payer: a known scene, and a payer where it needs one.
pub fn check(content: &Value) -> Result<(), RuleError> {
    scene_of(content, Some(IpAddr::from([0, 0, 0, 0]))).map(|_| ())
}

/// The scene to create `content`'s prepay in, for a buyer at `client_ip` (H5 only).
pub fn scene_of(content: &Value, client_ip: Option<IpAddr>) -> Result<Scene, RuleError> {
    let scene = match content.get(SCENE) {
        None => "native",
        Some(Value::String(scene)) => scene.as_str(),
        Some(_) => return Err(invalid_scene()),
    };
    let openid = || match content.get(PAYER_ID) {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(RuleError::InvalidBody(format!(
            "`content.scene` {scene:?} needs the payer's openid in `content.payerId`"
        ))),
    };
    Ok(match scene {
        "native" => Scene::Native,
        "miniprogram" => Scene::MiniProgram { openid: openid()? },
        "jsapi" => Scene::OfficialAccount { openid: openid()? },
        "h5" => Scene::H5 {
            client_ip: client_ip
                .ok_or_else(|| {
                    RuleError::InvalidBody("an H5 payment needs the buyer's IP address".into())
                })?
                .to_string(),
        },
        _ => return Err(invalid_scene()),
    })
}

fn invalid_scene() -> RuleError {
    RuleError::InvalidBody(format!(
        "`content.scene` must be one of {}",
        SCENES.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_scene_comes_from_the_content_and_needs_its_payer() {
        let ip = Some(IpAddr::from([203, 0, 113, 7]));
        assert_eq!(scene_of(&json!({}), None).ok(), Some(Scene::Native));
        assert_eq!(
            scene_of(&json!({"scene": "miniprogram", "payerId": "oU1"}), None).ok(),
            Some(Scene::MiniProgram {
                openid: "oU1".into()
            })
        );
        assert_eq!(
            scene_of(&json!({"scene": "jsapi", "payerId": "oU1"}), None).ok(),
            Some(Scene::OfficialAccount {
                openid: "oU1".into()
            })
        );
        assert_eq!(
            scene_of(&json!({"scene": "h5"}), ip).ok(),
            Some(Scene::H5 {
                client_ip: "203.0.113.7".into()
            })
        );
        for bad in [
            json!({"scene": "miniprogram"}),
            json!({"scene": "jsapi", "payerId": ""}),
            json!({"scene": "app"}),
            json!({"scene": 1}),
        ] {
            assert!(
                matches!(check(&bad), Err(RuleError::InvalidBody(_))),
                "{bad}"
            );
        }
        assert!(scene_of(&json!({"scene": "h5"}), None).is_err());
        assert!(check(&json!({"scene": "h5"})).is_ok());
    }
}
