// ort_time.js MODEL.onnx PIXELS.f32 LABELS.u8 N C H W REPS [INT8_1_MS INT8_64_MS] — ONNX Runtime
// (npm's onnxruntime-node, CPU, one thread) in the export benchmark (bench/export_c/run.sh):
// accuracy on the N images (batches of 64), then latency of one image and of a batch of 64, the
// median of REPS runs each (4 x REPS for the single image), session creation and a warm-up run
// excluded; with the int8 C's latencies given, their ratios.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function median(v) {
    const s = [...v].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
}

async function timeRun(sess, x, n, per, shape, reps) {
    const t = new ort.Tensor('float32', x.subarray(0, n * per), [n, ...shape]);
    await sess.run({input: t}); // warm-up
    const ms = [];
    for (let r = 0; r < reps; r++) {
        const t0 = process.hrtime.bigint();
        await sess.run({input: t});
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return median(ms);
}

async function main() {
    const [model, pixels, labels, nS, cS, hS, wS, repsS, q1S, q64S] = process.argv.slice(2);
    const [N, C, H, W, reps] = [nS, cS, hS, wS, repsS].map(Number);
    const buf = fs.readFileSync(pixels);
    const x = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const y = fs.readFileSync(labels);
    const per = C * H * W;
    if (x.length !== N * per || y.length !== N)
        throw new Error(`${pixels}, ${labels}: sizes do not fit ${N} images`);
    const opts = {intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all'};
    const sess = await ort.InferenceSession.create(model, opts);
    let ok = 0;
    for (let i = 0; i < N; i += 64) {
        const n = Math.min(64, N - i);
        const t = new ort.Tensor('float32', x.subarray(i * per, (i + n) * per), [n, C, H, W]);
        const out = (await sess.run({input: t})).logits;
        const K = out.dims[1];
        for (let j = 0; j < n; j++) {
            let best = 0;
            for (let k = 1; k < K; k++)
                if (out.data[j * K + k] > out.data[j * K + best])
                    best = k;
            ok += best === y[i + j];
        }
    }
    const t1 = await timeRun(sess, x, 1, per, [C, H, W], 4 * reps);
    const t64 = await timeRun(sess, x, 64, per, [C, H, W], reps);
    const v = ort.env && ort.env.versions ? ort.env.versions.common || '' : '';
    console.log(`ONNX Runtime ${v} (onnxruntime-node, 1 thread): accuracy ${(100 * ok / N).toFixed(2)}% ` +
                `on ${N} test images`);
    console.log(`  ONNX Runtime           ${t1.toFixed(3).padStart(8)}  ${t64.toFixed(3).padStart(9)}`);
    if (q1S && q64S) {
        const q1 = Number(q1S), q64 = Number(q64S);
        const r = (a, b) => (a / b).toPrecision(3);
        console.log(`ratios: ONNX Runtime vs int8 C ${r(q1, t1)}x / ${r(q64, t64)}x faster ` +
                    `(single image / batch 64; int8 C vs ONNX Runtime ${r(t1, q1)}x / ${r(t64, q64)}x)`);
    }
}
main().catch((e) => { console.error(`ort_time.js: ${e.stack || e}`); process.exit(1); });
