#!/usr/bin/env node
// Independent reference for `henn features`: runs the same nsfwjs MobileNetV2 files with
// TensorFlow.js (pure-JS CPU backend, the Keras layers API reading the model's own topology) on
// the images of a CSV (`label,p1,…,p784`, 28×28 bytes), and prints the globally average-pooled
// features of the taps as JSON. henn's test runtime/features/tests/reference.rs compares its own
// output with the stored result (runtime/features/tests/data/reference.json).
//
// Setup (once; npm registry only):
//   bash scripts/setup-data.sh nsfwjs
//   npm install --prefix "${HENN_CACHE:-$HOME/.cache/henn}/tfjs" @tensorflow/tfjs@4.22.0
// Run:
//   NODE_PATH="${HENN_CACHE:-$HOME/.cache/henn}/tfjs/node_modules" node scripts/features-reference.js \
//     runtime/features/tests/data/fashion-t10k-first4.csv > runtime/features/tests/data/reference.json
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const tf = require('@tensorflow/tfjs');

const TAPS = ['block_10_expand_relu', 'block_10_project_BN'];
// (resolution, scaling) pairs to record.
const CONFIGS = [
  [64, 'keras'],
  [96, 'keras'],
  [64, 'unit'],
];

async function loadTrunk(dir, resolution) {
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(dir, 'weights.bin'));
  const topology = JSON.parse(JSON.stringify(model.modelTopology));
  const cfg = topology.model_config.config;
  // Keep the layers up to the last tap (the frozen ImageNet trunk), at the chosen resolution.
  const last = cfg.layers.findIndex((l) => l.name === TAPS[TAPS.length - 1]);
  cfg.layers = cfg.layers.slice(0, last + 1);
  cfg.layers[0].config.batch_input_shape = [null, resolution, resolution, 3];
  cfg.output_layers = TAPS.map((t) => [t, 0, 0]);
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
  return tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: topology, weightSpecs: model.weightsManifest[0].weights, weightData }),
    { strict: false },
  );
}

function readCsv(file) {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1);
  const labels = [];
  const pixels = [];
  for (const line of lines) {
    const v = line.split(',').map(Number);
    labels.push(v[0]);
    pixels.push(...v.slice(1));
  }
  return { labels, pixels, n: labels.length };
}

async function main() {
  const csv = process.argv[2];
  const cache = process.env.HENN_CACHE || path.join(os.homedir(), '.cache', 'henn');
  const dir = path.join(cache, 'nsfwjs-4.3.0-mobilenet_v2');
  await tf.setBackend('cpu');
  const { labels, pixels, n } = readCsv(csv);
  const out = { images: path.basename(csv), labels, tfjs: tf.version.tfjs, backend: tf.getBackend(), results: [] };
  for (const [resolution, scaling] of CONFIGS) {
    const trunk = await loadTrunk(dir, resolution);
    const feats = tf.tidy(() => {
      const grey = tf.tensor4d(pixels, [n, 28, 28, 1], 'float32');
      // TF2-style bilinear resize: alignCorners = false, halfPixelCenters = true.
      const resized = tf.image.resizeBilinear(grey, [resolution, resolution], false, true);
      const rgb = tf.tile(resized, [1, 1, 1, 3]);
      const x = scaling === 'keras' ? rgb.div(127.5).sub(1) : rgb.div(255);
      const ys = trunk.predict(x);
      return ys.map((y) => y.mean([1, 2]).arraySync());
    });
    TAPS.forEach((tap, i) => out.results.push({ tap, resolution, scaling, features: feats[i] }));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
