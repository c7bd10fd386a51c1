// onnx_run.js MODEL.onnx PIXELS.f32 N C H W OUT.f32 — runs an exported model in ONNX Runtime
// (npm's onnxruntime-node, CPU) on N images given as raw float32 NCHW pixels in [0,1], in
// batches of 64 and a last partial batch (the batch dimension is symbolic), and writes the
// logits as raw float32 (N x classes). Used by tests/e2e/test_export_onnx.c.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
    const [model, pixels, nS, cS, hS, wS, out] = process.argv.slice(2);
    const [N, C, H, W] = [nS, cS, hS, wS].map(Number);
    const buf = fs.readFileSync(pixels);
    const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    if (x.length !== N * C * H * W)
        throw new Error(`${pixels}: ${x.length} floats, expected ${N * C * H * W}`);
    const opts = {intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all'};
    const sess = await ort.InferenceSession.create(model, opts);
    if (sess.inputNames[0] !== 'input' || sess.outputNames[0] !== 'logits')
        throw new Error(`names: inputs ${sess.inputNames}, outputs ${sess.outputNames}`);
    const per = C * H * W, B = 64;
    let logits = null, K = 0;
    for (let i = 0; i < N; i += B) {
        const n = Math.min(B, N - i);
        const t = new ort.Tensor('float32', x.subarray(i * per, (i + n) * per), [n, C, H, W]);
        const r = await sess.run({input: t});
        const y = r.logits;
        if (y.dims.length !== 2 || y.dims[0] !== n)
            throw new Error(`logits dims ${y.dims}`);
        if (!logits) {
            K = y.dims[1];
            logits = new Float32Array(N * K);
        }
        logits.set(y.data, i * K);
    }
    fs.writeFileSync(out, Buffer.from(logits.buffer));
    console.log(`onnxruntime ${ort.env.versions ? JSON.stringify(ort.env.versions) : ''}: ${N} images, ${K} classes`);
}
main().catch((e) => { console.error(`onnx_run.js: ${e.stack || e}`); process.exit(1); });
