//! JSON objects with unique member names. JWS headers, JWT claims, DPoP proofs and
//! introspection answers are parsed with it: RFC 7515 §4 and RFC 7519 §4 let parsers refuse
//! duplicates, and accepting "last wins" lets two parsers read two different values (a claim,
//! `active`) from the same bytes.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

/// A JSON object whose member names are unique; anything else fails to deserialize.
pub(crate) struct StrictObject(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StrictObject, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(de::Error::custom("duplicate member"));
                    }
                    map.insert(key, value);
                }
                Ok(StrictObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_and_non_objects_are_refused() {
        assert!(serde_json::from_str::<StrictObject>(r#"{"a":1,"b":2}"#).is_ok());
        assert!(serde_json::from_str::<StrictObject>(r#"{"a":1,"a":2}"#).is_err());
        assert!(serde_json::from_str::<StrictObject>(r#"[1,2]"#).is_err());
        assert!(serde_json::from_str::<StrictObject>(r#""a""#).is_err());
    }
}
