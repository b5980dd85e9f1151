//! Whether a live object already says everything the desired one says.
//!
//! Server-side apply is a write even when it changes nothing, and a reconcile with nothing to
//! change must write nothing (quality.md). So the apply step first compares: when every field the
//! operator sets is present in the live object with the same value, the object is left alone;
//! fields the server added (defaults, status, other managers' fields) do not count. An edited or
//! deleted child no longer contains the desired fields, and is applied again.

use serde_json::Value;

/// True when every field of `desired` appears in `live` with an equal value (recursively for
/// objects; arrays must match element by element, each element by the same rule).
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(want), Value::Object(have)) => want.iter().all(|(key, value)| match have.get(key) {
            Some(found) => is_subset(value, found),
            // An absent field the operator sets to null, an empty list or an empty map is the same.
            None => is_empty(value),
        }),
        (Value::Array(want), Value::Array(have)) => want.len() == have.len() && want.iter().zip(have).all(|(w, h)| is_subset(w, h)),
        (Value::Number(want), Value::Number(have)) => want.as_f64() == have.as_f64(),
        _ => desired == live,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// The parts of an object the comparison looks at: everything but the status and the metadata
/// the server owns.
pub fn comparable(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for owned_by_server in ["resourceVersion", "uid", "generation", "creationTimestamp", "managedFields", "selfLink"] {
                meta.remove(owned_by_server);
            }
        }
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn server_added_fields_do_not_count_as_drift() {
        let desired = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
        let live = json!({
            "metadata": {"name": "a", "labels": {"x": "1"}, "resourceVersion": "7", "annotations": {"deployment.kubernetes.io/revision": "1"}},
            "spec": {"replicas": 2, "progressDeadlineSeconds": 600, "template": {"spec": {"containers": [{"name": "c", "image": "i:1", "imagePullPolicy": "IfNotPresent"}], "restartPolicy": "Always"}}},
            "status": {"replicas": 2}
        });
        assert!(is_subset(&desired, &live));
    }

    #[test]
    fn an_edited_or_missing_field_is_drift() {
        let desired = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
        let edited = json!({"spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
        let new_image = json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:2"}]}}}});
        let extra_container =
            json!({"spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "i:1"}, {"name": "d"}]}}}});
        let label_removed = (json!({"metadata": {"labels": {"x": "1"}}}), json!({"metadata": {"labels": {}}}));
        for live in [edited, new_image, extra_container] {
            assert!(!is_subset(&desired, &live), "{live}");
        }
        assert!(!is_subset(&label_removed.0, &label_removed.1));
    }

    #[test]
    fn empty_desired_values_match_absent_live_ones() {
        assert!(is_subset(&json!({"spec": {"tls": [], "rules": null, "selector": {}}}), &json!({"spec": {}})));
        assert!(!is_subset(&json!({"spec": {"tls": [{"hosts": ["a"]}]}}), &json!({"spec": {}})));
    }

    #[test]
    fn integers_and_floats_compare_by_value() {
        assert!(is_subset(&json!({"a": 1}), &json!({"a": 1.0})));
    }

    #[test]
    fn server_owned_metadata_and_status_are_dropped() {
        let object =
            comparable(json!({"metadata": {"name": "a", "resourceVersion": "3", "uid": "u", "managedFields": []}, "status": {"x": 1}}));
        assert_eq!(object, json!({"metadata": {"name": "a"}}));
    }
}
