//! Bad models and bad inputs are errors that say what is wrong, never panics.

use std::path::Path;

use trainyard_runtime::{Error, Model};

use crate::support::matrix_dir;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_corrupt_file_is_an_invalid_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "model.onnx", b"\x08\x07garbage that is not protobuf \xff\xff\xff");
    let err = Model::load(&path).unwrap_err();
    assert!(matches!(err, Error::InvalidModel { .. }), "{err}");
    let err = Model::load(&dir.path().join("missing.onnx")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

#[test]
fn a_wrong_input_width_names_the_expected_width() {
    let Some(root) = matrix_dir() else { return };
    let model = Model::load(&root.join("logreg_binary/model.onnx")).unwrap();
    let n = model.n_features();
    let err = model.predict(&vec![0.0; n - 1], 1).unwrap_err();
    assert!(err.to_string().contains(&format!("{n} features")), "{err}");
}

#[test]
fn an_archive_loads_like_a_directory_and_ignores_other_entries() {
    let Some(root) = matrix_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("model.tar.gz");
    let file = std::fs::File::create(&archive).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    tar.append_path_with_name(root.join("gb_cls_binary/model.onnx"), "model.onnx").unwrap();
    let metadata = br#"{"problem_type": "binary_classification", "class_labels": [0, 1], "producer": "test"}"#;
    let mut header = tar::Header::new_gnu();
    header.set_size(metadata.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "model.json", &metadata[..]).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let model = Model::load(&archive).unwrap();
    assert_eq!(model.metadata().and_then(|m| m.producer.as_deref()), Some("test"));
    assert_eq!(model.n_features(), Model::load(&root.join("gb_cls_binary/model.onnx")).unwrap().n_features());
}

#[test]
fn an_unsupported_operator_is_named_with_its_node() {
    use prost::Message;
    let Some(root) = matrix_dir() else { return };
    let bytes = std::fs::read(root.join("rf_cls_binary/model.onnx")).unwrap();
    let mut proto = tract_onnx::pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let node = proto.graph.as_mut().unwrap().node.iter_mut().find(|n| n.op_type == "TreeEnsembleClassifier").unwrap();
    node.op_type = "SVMClassifier".into();
    node.name = "the_svm".into();
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "model.onnx", &proto.encode_to_vec());
    let err = Model::load(&path).unwrap_err();
    match &err {
        Error::UnsupportedOperator { domain, op_type, node } => {
            assert_eq!((domain.as_str(), op_type.as_str(), node.as_str()), ("ai.onnx.ml", "SVMClassifier", "the_svm"));
        }
        other => panic!("expected an unsupported operator, got {other}"),
    }
    assert_eq!(err.to_string(), "unsupported operator ai.onnx.ml:SVMClassifier (node `the_svm`)");
}
