// Runs a ConvNetJS net exported by volnet on inputs and prints its probabilities, one line each.
// usage: node convnetjs_forward.js NET.json INPUTS.json  (inputs: [[H×W×D values], ...], normalised)
const fs = require("fs");
const convnetjs = require("convnetjs");
const json = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const inputs = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const net = new convnetjs.Net();
net.fromJSON(json);
const first = json.layers[0];
const rows = inputs.map((values) => {
  const volume = new convnetjs.Vol(first.out_sx, first.out_sy, first.out_depth, 0.0);
  for (let i = 0; i < values.length; i++) volume.w[i] = values[i];
  return Array.from(net.forward(volume, false).w);
});
process.stdout.write(JSON.stringify(rows));
