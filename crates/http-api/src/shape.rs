//! The JSON shape each body type is read from, and no other: a struct
//! only from an object, a unit-variant enum only from a string.
//!
//! serde's derived `Deserialize` is more lenient than the contract. It
//! reads a struct from an array of its fields in order, so that
//! `"credentialAssertion": [credId, clientData, signature, null]` would
//! log in, and an enum from a one-entry map, so that `{"Key": null}` would
//! name a credential kind. A body type keeps its derived code as an
//! inherent function with `#[serde(remote = "Self")]`, and
//! [`read_only_from!`] implements the trait with that function over an
//! [`ObjectOnly`] or a [`NameOnly`] deserializer. The check lives in each
//! type, not in the body's parser, because a value nested in an
//! internally tagged enum (`firstFactor`) is read from serde's buffer, not
//! from the deserializer the body was given.

use std::fmt;

use serde::de::value::StrDeserializer;
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::forward_to_deserialize_any;

/// A deserializer that yields only a map: whatever the type asks for, a
/// JSON object is read, and any other value is an invalid type named with
/// the type's own `expecting`.
pub(crate) struct ObjectOnly<D>(pub(crate) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(MapOnly(visitor))
    }

    // A struct's derived code asks for a struct, an internally tagged
    // enum's for anything; both are given a map.
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Hands a map to the visitor it wraps, and refuses anything else (a
/// sequence above all) as the wrapped visitor would describe it.
struct MapOnly<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for MapOnly<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}

/// A deserializer that yields only the name of a unit variant: a JSON
/// string, handed to the enum as its variant. For enums whose variants
/// are all units.
pub(crate) struct NameOnly<D>(pub(crate) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for NameOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_str(VariantName(visitor))
    }

    // The derived code of an enum asks for an enum.
    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// Turns a string into the variant of that name for the enum visitor it
/// wraps; an unknown name is refused by the enum, which lists its
/// variants.
struct VariantName<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for VariantName<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(formatter)
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<V::Value, E> {
        let variant: StrDeserializer<'_, E> = name.into_deserializer();
        self.0.visit_enum(variant)
    }
}

/// Implements `Deserialize` for types that derive it with
/// `#[serde(remote = "Self")]`: `object: T, ...` for structs and
/// internally tagged enums, read only from a JSON object; `name: T, ...`
/// for unit-variant enums, read only from a JSON string.
macro_rules! read_only_from {
    (object: $($type:ty),+ $(,)?) => {
        $(read_only_from!(@impl $type, $crate::shape::ObjectOnly);)+
    };
    (name: $($type:ty),+ $(,)?) => {
        $(read_only_from!(@impl $type, $crate::shape::NameOnly);)+
    };
    (@impl $type:ty, $shape:path) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // The inherent function: the derived code.
                <$type>::deserialize($shape(deserializer))
            }
        }
    };
}

pub(crate) use read_only_from;

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(remote = "Self", expecting = "a JSON object with a and b")]
    struct Pair {
        a: u8,
        b: Option<Color>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(remote = "Self", expecting = "a color name")]
    enum Color {
        Red,
        Blue,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(remote = "Self", tag = "kind", expecting = "a JSON object with kind")]
    enum Tagged {
        Pair { pair: Pair },
    }

    read_only_from!(object: Pair, Tagged);
    read_only_from!(name: Color);

    fn read<T: for<'de> Deserialize<'de>>(value: serde_json::Value) -> Result<T, String> {
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[test]
    fn a_struct_is_read_from_an_object_and_never_from_an_array() {
        assert_eq!(read(json!({"a": 1, "b": "Red"})), Ok(Pair { a: 1, b: Some(Color::Red) }));
        assert_eq!(
            read::<Pair>(json!([1, "Red"])),
            Err("invalid type: sequence, expected a JSON object with a and b".to_owned())
        );
        assert_eq!(
            read::<Pair>(json!("a")),
            Err("invalid type: string \"a\", expected a JSON object with a and b".to_owned())
        );
    }

    #[test]
    fn a_unit_variant_is_read_from_its_name_and_never_from_a_map() {
        assert_eq!(read(json!("Blue")), Ok(Color::Blue));
        assert_eq!(
            read::<Color>(json!("Green")),
            Err("unknown variant `Green`, expected `Red` or `Blue`".to_owned())
        );
        assert_eq!(
            read::<Color>(json!({"Red": null})),
            Err("invalid type: map, expected a color name".to_owned())
        );
        assert_eq!(
            read::<Color>(json!(0)),
            Err("invalid type: integer `0`, expected a color name".to_owned())
        );
    }

    #[test]
    fn a_tagged_enum_and_what_it_holds_are_read_from_objects_only() {
        let pair = Pair { a: 2, b: None };
        assert_eq!(read(json!({"kind": "Pair", "pair": {"a": 2}})), Ok(Tagged::Pair { pair }));
        assert_eq!(
            read::<Tagged>(json!(["Pair", {"a": 2}])),
            Err("invalid type: sequence, expected a JSON object with kind".to_owned())
        );
        assert_eq!(
            read::<Tagged>(json!({"kind": "Pair", "pair": [2, null]})),
            Err("invalid type: sequence, expected a JSON object with a and b".to_owned())
        );
    }
}
