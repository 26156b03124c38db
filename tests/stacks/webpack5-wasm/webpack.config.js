// webpack 5 with WebAssembly ES-module integration: the package's `bundler` entry imports its
// wasm, and webpack emits it once and instantiates it before the entry runs.
const path = require('node:path');

module.exports = {
  entry: './src/index.js',
  output: { path: path.resolve(__dirname, 'dist'), filename: 'main.js' },
  experiments: { asyncWebAssembly: true },
};
